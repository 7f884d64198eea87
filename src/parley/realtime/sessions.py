"""The client sessions open in this process (`/v2/rtc`), by id: what a reconnecting socket resumes by
`session_id`, and what `PUT /v0.2/sessions/{id}` extends with a fresh token.

A session outlives its socket for a grace period (the client reconnects on its own), so it is registered here
rather than kept by the socket. Sessions are per process: a client that reconnects to another process gets a new
session and catches up with its own event fetch.
"""

from __future__ import annotations

from typing import Protocol


class LiveSession(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def application_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def expires(self) -> float:
        """When its token expires (epoch seconds)."""

    def extend(self, expires: float) -> None:
        """A fresh token for the same user: the session lives on until `expires`."""


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, LiveSession] = {}

    def add(self, session: LiveSession) -> None:
        self._sessions[session.id] = session

    def remove(self, session: LiveSession) -> None:
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]

    def get(self, application_id: str, session_id: str) -> LiveSession | None:
        """The session, only within its own application (ids never cross applications)."""
        session = self._sessions.get(session_id)
        return session if session is not None and session.application_id == application_id else None

    def of_user(self, application_id: str, user_id: str) -> list[LiveSession]:
        return [s for s in self._sessions.values() if s.application_id == application_id and s.user_id == user_id]
