"""One hub per process. Services tell it about committed (and ephemeral) events through the `EventSink` port;
it finds the sockets of this process that should see each event, encodes the event once per dialect and queues
the frame on each of those sockets.

Who sees an event: the users with a JOINED membership in its conversation; for `member:*` events also the
member the event is about (an invitee is not joined yet, a leaver no longer is).

Order: a conversation's events are delivered one at a time, in the order the hub is told about them. Finding
who sees an event reads the store, and concurrent reads finish in any order: without taking turns, event 6 of
two senders could overtake event 5 on every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol

from parley.domain.models import Event, MemberState
from parley.domain.paging import Scan
from parley.domain.ports import Store

Encoder = Callable[[Event], str]


class Connection(Protocol):
    """A client socket as the hub sees it."""

    @property
    def application_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def encoder(self) -> Encoder:
        """The dialect's event encoding; connections sharing an encoder share its frames."""

    def push(self, frame: str) -> None:
        """Queue a frame; never blocks (each connection writes its queue in order)."""


class Hub:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_user: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._per_application: dict[str, int] = defaultdict(int)  # live sockets, to skip the lookup when none
        self._turns: dict[tuple[str, str], _Turn] = {}  # conversations with deliveries under way

    def attach(self, connection: Connection) -> None:
        key = (connection.application_id, connection.user_id)
        if connection not in self._by_user[key]:
            self._by_user[key].add(connection)
            self._per_application[connection.application_id] += 1

    def detach(self, connection: Connection) -> None:
        key = (connection.application_id, connection.user_id)
        sockets = self._by_user.get(key)
        if sockets is None or connection not in sockets:
            return
        sockets.discard(connection)
        self._per_application[connection.application_id] -= 1
        if not sockets:
            del self._by_user[key]

    async def committed(self, application_id: str, events: Sequence[Event]) -> None:
        if not self._per_application.get(application_id):
            return  # nobody of this application is connected to this process
        for event in events:
            key = (application_id, event.conversation_id)
            turn = self._turns.get(key) or self._turns.setdefault(key, _Turn())
            turn.users += 1
            try:
                async with turn.lock:  # FIFO: the turns go in the order they were asked for
                    await self._deliver(application_id, event)
            finally:
                turn.users -= 1
                if not turn.users:
                    del self._turns[key]

    async def _deliver(self, application_id: str, event: Event) -> None:
        connections = [c for user in await self._audience(application_id, event)
                       for c in self._by_user.get((application_id, user), ())]
        frames: dict[Encoder, str] = {}
        for connection in connections:
            frame = frames.get(connection.encoder)
            if frame is None:
                frame = frames[connection.encoder] = connection.encoder(event)
            connection.push(frame)

    async def _audience(self, application_id: str, event: Event) -> set[str]:
        users: set[str] = set()
        after = None
        while True:
            members = await self._store.members(application_id, event.conversation_id,
                                                Scan(limit=500, descending=False, after=after))
            for member in members:
                about = event.type.startswith("member:") and event.body.get("member_id") == member.id
                if member.state is MemberState.JOINED or about:
                    users.add(member.user_id)
            if len(members) < 500:
                return users
            after = members[-1].seq


class _Turn:
    """One conversation's deliveries: the one under way holds the lock, the others wait for it in order."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Outbox:
    """A connection's ordered, non-blocking write queue, drained by one task."""

    def __init__(self, send: Callable[[str], object]) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._send = send
        self._task = asyncio.ensure_future(self._drain())

    def push(self, frame: str) -> None:
        self._queue.put_nowait(frame)

    async def _drain(self) -> None:
        while True:
            frame = await self._queue.get()
            result = self._send(frame)
            if asyncio.iscoroutine(result):
                await result

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
