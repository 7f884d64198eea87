"""The client sessions open in this process (`/v2/rtc`), by id: what a reconnecting socket resumes by
`session_id`, and what `PUT /v0.2/sessions/{id}` extends with a fresh token.

A session outlives its socket for a grace period (the client reconnects on its own), so it is registered here
rather than kept by the socket. Sessions are per process: a client that reconnects to another process gets a new
session and catches up with its own event fetch.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from parley.domain.paging import Scan


class LiveSession(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def application_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def user_name(self) -> str: ...

    @property
    def expires(self) -> float:
        """When its token expires (epoch seconds)."""

    def extend(self, expires: float) -> None:
        """A fresh token for the same user: the session lives on until `expires`."""


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, LiveSession] = {}
        # a user's sessions by id, oldest first, each with its serial number (the key sessions are paged by)
        self._by_user: dict[tuple[str, str], dict[str, tuple[int, LiveSession]]] = {}
        self._serials = itertools.count(1)

    def add(self, session: LiveSession) -> None:
        self._sessions[session.id] = session
        mine = self._by_user.setdefault((session.application_id, session.user_id), {})
        mine[session.id] = (next(self._serials), session)

    def remove(self, session: LiveSession) -> None:
        if self._sessions.get(session.id) is not session:
            return
        del self._sessions[session.id]
        key = (session.application_id, session.user_id)
        mine = self._by_user[key]
        del mine[session.id]
        if not mine:
            del self._by_user[key]

    def get(self, application_id: str, session_id: str) -> LiveSession | None:
        """The session, only within its own application (ids never cross applications)."""
        session = self._sessions.get(session_id)
        return session if session is not None and session.application_id == application_id else None

    def of_user(self, application_id: str, user_id: str) -> list[LiveSession]:
        """A user's sessions, oldest first."""
        return [session for _, session in self._by_user.get((application_id, user_id), {}).values()]

    def scan_user(self, application_id: str, user_id: str, scan: Scan) -> list[tuple[int, LiveSession]]:
        """A page of a user's sessions with their serials, as a store scans rows (`Scan` semantics)."""
        rows = list(self._by_user.get((application_id, user_id), {}).values())
        if scan.descending:
            rows.reverse()
        if scan.after is not None:
            after = scan.after
            rows = [r for r in rows if (r[0] < after if scan.descending else r[0] > after)]
        return rows[: scan.limit]
