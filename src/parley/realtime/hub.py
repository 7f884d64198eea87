"""One hub per process. Services tell it about committed (and ephemeral) events through the `EventSink` port;
it finds the sockets of this process that should see each event, encodes the event once per dialect and queues
the frame on each of those sockets.

Who sees an event: the users with a JOINED membership in its conversation; for `member:*` events also the
member the event is about (an invitee is not joined yet, a leaver no longer is).

The joined users of a conversation are cached (`_Conversation.users`) instead of read from the store for every event: a
conversation's events get consecutive ids, so an event whose id follows the last one the hub saw has nothing
unseen before it, and the cached set is exact once the event itself is applied (`member:joined` adds its user,
`member:left`/`member:invited` remove it). After a gap (an event this hub never saw: sent while nobody of the
application was connected here, or by a path that bypasses the hub) the set is read from the store again.

Order: a conversation's events reach every socket in id order, once. Commits are ordered by the conversation's
lock, but their announcements are not: a writer that resumes late after its commit would let the next writer's
event overtake its own. So each conversation delivers one event at a time (`_Conversation.lock`), and an event that
arrives after a gap while the conversation is busy waits up to `HOLD_BACK_S` for the missing ones; an event
that comes after its place was given up is still delivered, late. A gap in a quiet conversation is an event
this hub never saw (see above) and waits for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any, Protocol

from parley.domain.models import Event, MemberState
from parley.domain.paging import Scan
from parley.domain.ports import Store

Encoder = Callable[[Event], str]
log = logging.getLogger("parley.hub")


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


MAX_BACKLOG = 5_000  # frames queued for one slow client before its socket is closed (a few MB at most)
HOLD_BACK_S = 0.05  # how long an event waits for an earlier one still being announced (a late writer: ~ms)
BUSY_S = 1.0  # a conversation that delivered within this is busy: a gap there is most likely a late announcement
MAX_CACHED_CONVERSATIONS = 10_000  # about 100 bytes + the user ids each: a bound, not a working-set estimate
SCAN = 500


def member_user(event: Event) -> str | None:
    """The user a `member:*` event is about (its body names the member's user)."""
    user = event.body.get("user")
    found = user.get("id") if isinstance(user, dict) else None
    return found if isinstance(found, str) else None


_STATES = {"member:joined": True, "member:left": False, "member:invited": False}  # joined afterwards?


def apply_membership(users: set[str], event: Event) -> bool:
    """Update a joined-users set for a membership event; False when the event does not say whose membership
    changed."""
    if event.type not in _STATES:
        return True
    user = member_user(event)
    if user is None:
        return False
    if _STATES[event.type]:
        users.add(user)
    else:
        users.discard(user)
    return True


class _Conversation:
    """What the hub keeps per conversation: where its deliveries stand (the last id delivered, events waiting
    for earlier ones) and its joined users as of that id."""

    __slots__ = ("at", "give_up", "lock", "pending", "through", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # FIFO: deliveries take turns in the order they were announced
        self.through = 0  # the last id delivered; 0: none yet
        self.at = 0.0  # loop time `through` was reached
        self.pending: dict[int, Event] = {}  # events that came after a gap, waiting for the missing ones
        self.give_up: asyncio.TimerHandle | None = None
        self.users: set[str] | None = None  # None: not read from the store yet


class Hub:
    def __init__(self, store: Store, max_cached: int = MAX_CACHED_CONVERSATIONS) -> None:
        self._store = store
        self._by_user: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._per_application: dict[str, int] = defaultdict(int)  # live sockets, to skip the lookup when none
        self._conversations: dict[tuple[str, str], _Conversation] = {}
        self._max_cached = max_cached

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
            state = self._conversation((application_id, event.conversation_id))
            if event.id == 0:
                await self._deliver(application_id, state, event)  # ephemeral: no place in the order
            else:
                await self._in_order(application_id, state, event)

    async def _in_order(self, application_id: str, state: _Conversation, event: Event) -> None:
        async with state.lock:
            loop = asyncio.get_running_loop()
            busy = loop.time() - state.at < BUSY_S
            if state.through and event.id > state.through + 1 and busy:
                state.pending[event.id] = event
                if state.give_up is None:
                    state.give_up = loop.call_later(
                        HOLD_BACK_S, lambda: asyncio.ensure_future(self._give_up(application_id, state)))
                return
            # (an event at or before `through` came after its place was given up, or before the hub knew the
            # conversation: late is better than never)
            await self._deliver(application_id, state, event)
            while state.through + 1 in state.pending:
                await self._deliver(application_id, state, state.pending.pop(state.through + 1))
            if not state.pending and state.give_up is not None:
                state.give_up.cancel()
                state.give_up = None

    async def _give_up(self, application_id: str, state: _Conversation) -> None:
        """The missing events did not come: deliver what waited, in order, past the gap."""
        async with state.lock:
            state.give_up = None
            for event_id in sorted(state.pending):
                await self._deliver(application_id, state, state.pending[event_id])
            state.pending.clear()

    def _conversation(self, key: tuple[str, str]) -> _Conversation:
        state = self._conversations.get(key)
        if state is None:
            if len(self._conversations) >= self._max_cached:
                idle = next((k for k, c in self._conversations.items() if not c.lock.locked() and not c.pending),
                            None)
                if idle is not None:
                    del self._conversations[idle]
            state = self._conversations[key] = _Conversation()
        return state

    async def _deliver(self, application_id: str, state: _Conversation, event: Event) -> None:
        try:
            joined = await self._audience(application_id, state, event)
        except Exception:
            # The event is committed: failing here would report an error for a send that succeeded. The
            # sockets miss it live and get it from history (a reconnecting client asks for it).
            log.exception("no audience for event %s of %s: not pushed", event.id, event.conversation_id)
            return
        if event.id > state.through:
            state.through, state.at = event.id, asyncio.get_running_loop().time()
        about = member_user(event) if event.type.startswith("member:") else None
        frames: dict[Encoder, str] = {}
        # (no await from here on: `joined` may be the cached set itself)
        for user in joined if about is None or about in joined else (*joined, about):
            for connection in self._by_user.get((application_id, user), ()):
                frame = frames.get(connection.encoder)
                if frame is None:
                    frame = frames[connection.encoder] = connection.encoder(event)
                connection.push(frame)

    async def _audience(self, application_id: str, state: _Conversation, event: Event) -> set[str]:
        """The joined users of the event's conversation once the event is applied."""
        users = state.users
        if users is not None:
            if event.id == 0 or event.id <= state.through:
                return users  # ephemeral (no place in the order), or late: the set is as new or newer
            if event.id == state.through + 1 and apply_membership(users, event):
                return users
        # Nothing read yet, or a gap: the store, read after this event committed, has everything up to it.
        state.users = users = await self._joined(application_id, event.conversation_id)
        return users

    async def _joined(self, application_id: str, conversation_id: str) -> set[str]:
        users: set[str] = set()
        after = None
        while True:
            members = await self._store.members(application_id, conversation_id,
                                                Scan(limit=SCAN, descending=False, after=after))
            users.update(m.user_id for m in members if m.state is MemberState.JOINED)
            if len(members) < SCAN:
                return users
            after = members[-1].seq


class Outbox:
    """A connection's ordered, non-blocking writer.

    A frame is sent at once when nothing is waiting before it: the send coroutine is stepped by hand, and it
    normally finishes in that one step (uvicorn writes to the transport and returns unless the transport's buffer
    is full). Only a send that suspends (a client reading slowly) gets a task, and frames pushed meanwhile queue
    behind it. So a fan-out costs no task switch per socket, and an idle socket holds no task or queue at all.
    """

    __slots__ = ("_closed", "_limit", "_overflow", "_queue", "_send", "_task")

    def __init__(self, send: Callable[[str], object], overflow: Callable[[], object] | None = None,
                 limit: int = MAX_BACKLOG) -> None:
        self._send = send
        self._overflow = overflow  # called once when a client falls `limit` frames behind
        self._limit = limit
        self._queue: deque[str] | None = None  # frames behind a suspended send; None when there is none
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def push(self, frame: str) -> None:
        if self._closed:
            return
        if self._queue is not None:
            if len(self._queue) >= self._limit:
                # A client that stopped reading: keeping everything for it would grow without bound. Its socket
                # is closed instead; the client reconnects and catches up from the store.
                self._closed = True
                self._queue.clear()
                if self._overflow is not None:
                    self._overflow()
                return
            self._queue.append(frame)
            return
        result = self._send(frame)
        if not isinstance(result, Coroutine):
            return
        try:
            waiting = result.send(None)
        except StopIteration:
            return
        except Exception:  # a closed socket must not fail the request that fanned out to it
            self._closed = True  # (its reader sees the disconnect and detaches it)
            return
        self._queue = deque()
        self._task = asyncio.ensure_future(self._drain(result, waiting))

    async def _drain(self, suspended: Coroutine[Any, Any, object], waiting: object) -> None:
        try:
            await _Resume(suspended, waiting)
            while self._queue:
                result = self._send(self._queue.popleft())
                if isinstance(result, Coroutine):
                    await result
        except Exception:  # as in push(): the socket is gone
            self._closed = True
        finally:
            self._queue = None
            self._task = None

    async def close(self) -> None:
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Resume:
    """Awaits a coroutine that was started by hand and suspended, yielding `waiting` (the future it waits on):
    the awaiting task waits on that future as if it had run the coroutine from the start (as Python 3.12's
    eager tasks do)."""

    __slots__ = ("_coroutine", "_waiting")

    def __init__(self, coroutine: Coroutine[Any, Any, object], waiting: object) -> None:
        self._coroutine = coroutine
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        coroutine, waiting = self._coroutine, self._waiting
        while True:
            try:
                yield waiting
            except BaseException as exc:  # cancelled (or the future failed) while waiting: pass it in
                try:
                    waiting = coroutine.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waiting = coroutine.send(None)
            except StopIteration:
                return
