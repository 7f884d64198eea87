"""The Engine.IO server side, independent of what travels inside it: the handshake, the heartbeat and the
transports, for protocol 3 (socket.io-client 2.x, `/rtc`) and 4 (socket.io-client 4.x, `/v2/rtc`).

A dialect (the socket-RPC of `/rtc`, the session protocol of `/v2/rtc`) only sees Engine.IO *messages*: it is
handed an `EngineSocket` when a client opens one, gets each message's text, and pushes frames back through
`EngineSocket.push`. Frames are whole Engine.IO packets (`4` + the message), so the hub can encode an event once
and hand the same string to every socket of that dialect.

Transports: a client opens either straight on a websocket, or on HTTP long-polling (`polling.py`) and then
upgrades to a websocket of the same session (`sid`): `2probe` -> `3probe`, the pending poll is answered, the
client sends `5`, and from then on the session's frames go to the websocket, the ones still queued for polling
first. A session changes transport between two frames, never in the middle of one, so nothing is lost or
reordered across the switch.

Heartbeat: in protocol 3 the client pings and the server answers; in protocol 4 the server pings and the client
answers. Either way a session that stays silent longer than `pingInterval + pingTimeout` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.api.cors import cross_origin
from parley.api.socket.engineio import Packet, PacketType, ProtocolError, decode_packet, encode_packet
from parley.api.socket.polling import EngineError, Polling, engine_error, serve_polling
from parley.realtime.hub import Outbox

PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 20_000
MAX_PAYLOAD_BYTES = 1_000_000  # a polling POST body or a websocket frame; announced as maxPayload in protocol 4
UPGRADE_TIMEOUT_S = 10.0  # from the websocket's opening to its `5`, as engine.io's upgradeTimeout
PING = encode_packet(Packet(PacketType.PING))
HOLD_AT, RELEASE_AT = 64, 16  # messages waiting on a websocket at which it stops / resumes reading its client
log = logging.getLogger("parley.engine")


class SocketHandler(Protocol):
    """What a dialect keeps per open socket."""

    async def message(self, data: str) -> None:
        """One Engine.IO message from the client (a socket.io packet, as text)."""

    async def closed(self) -> None:
        """The socket is gone (closed by either side or timed out): detach it from everything."""


class Dialect(Protocol):
    @property
    def engine_version(self) -> int:
        """The Engine.IO protocol version the dialect's clients speak (3 or 4)."""

    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> SocketHandler:
        """A client opened a socket (the open packet is already queued); `query` is its handshake query."""


class EngineSocket:
    """One Engine.IO session. `push` queues a whole frame on whichever transport carries the session.

    `origin` is the `Origin` of the handshake that opened it when that is not the server's own: the dialect
    checks it against the application of the token it gets (`Authenticator.session`)."""

    def __init__(self, version: int, write: Callable[[str], None],
                 ping_interval_ms: int = PING_INTERVAL_MS, ping_timeout_ms: int = PING_TIMEOUT_MS,
                 origin: str | None = None) -> None:
        self.id = str(uuid.uuid4())
        self.version = version
        self.origin = origin
        self.ping_interval_ms = ping_interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self._write = write
        self.closing = False

    def push(self, frame: str) -> None:
        if not self.closing:
            self._write(frame)

    def send(self, message: str) -> None:
        """Queue one Engine.IO message (a socket.io packet's text)."""
        self.push("4" + message)

    def carry_on(self, write: Callable[[str], None]) -> None:
        """From now on frames go to another transport (the caller has moved what the old one still held)."""
        self._write = write

    def opening(self, upgrades: list[str] | None = None) -> str:
        handshake = {"sid": self.id, "upgrades": upgrades or [], "pingInterval": self.ping_interval_ms,
                     "pingTimeout": self.ping_timeout_ms}
        if self.version >= 4:
            handshake["maxPayload"] = MAX_PAYLOAD_BYTES
        return encode_packet(Packet(PacketType.OPEN, orjson.dumps(handshake).decode()))

    @property
    def silence_limit_s(self) -> float:
        return (self.ping_interval_ms + self.ping_timeout_ms) / 1000


@dataclass(frozen=True)
class EngineConfig:
    """The heartbeat a server announces and its limits (tests shorten the times)."""

    ping_interval_ms: int = PING_INTERVAL_MS
    ping_timeout_ms: int = PING_TIMEOUT_MS
    upgrade_timeout_s: float = UPGRADE_TIMEOUT_S
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


@dataclass(eq=False)
class Session:
    """An open Engine.IO session as the engine keeps it: the socket, its dialect handler, its background tasks
    and, while it is on the polling transport, that transport."""

    socket: EngineSocket
    handler: SocketHandler
    tasks: list[asyncio.Future[None]] = field(default_factory=list)
    heartbeat: asyncio.TimerHandle | None = None  # protocol 4: the next server ping
    polling: Polling | None = None
    closed: bool = False


class Engine:
    """The Engine.IO server of one endpoint (`/rtc`, `/v2/rtc`): its dialect and its open sessions by id."""

    def __init__(self, dialect: Dialect, config: EngineConfig | None = None) -> None:
        self.dialect = dialect
        self.config = config or EngineConfig()
        self.sessions: dict[str, Session] = {}

    @property
    def version(self) -> int:
        return self.dialect.engine_version

    async def open(self, write: Callable[[str], None], query: Mapping[str, str],
                   upgrades: list[str] | None = None, origin: str | None = None) -> Session:
        """A new session: its open packet queued, the dialect told, the heartbeat started."""
        socket = EngineSocket(self.version, write, self.config.ping_interval_ms, self.config.ping_timeout_ms,
                              origin)
        socket.push(socket.opening(upgrades))
        session = Session(socket, await self.dialect.connected(socket, query))
        self.sessions[socket.id] = session
        if socket.version >= 4:
            _keep_pinging(session)
        return session

    async def close(self, session: Session) -> None:
        """End a session once, whoever ends it (either side, a timeout, a broken transport)."""
        if session.closed:
            return
        session.closed = True
        session.socket.closing = True
        self.sessions.pop(session.socket.id, None)
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        if session.heartbeat is not None:
            session.heartbeat.cancel()
        if session.polling is not None:
            session.polling.end()
        await session.handler.closed()

    async def received(self, session: Session, packet: Packet) -> bool:
        """Handle one Engine.IO packet from the client; False when the client closed the session."""
        if packet.type is PacketType.MESSAGE:
            await session.handler.message(packet.data)
            return True
        return control(session, packet)

    async def http(self, request: Request) -> Response:
        """The polling transport: a GET without `sid` opens a session, then GETs poll and POSTs carry packets."""
        return await serve_polling(self, request)

    def admit(self, query: Mapping[str, str]) -> EngineError | None:
        """Whether a websocket handshake may open: a new session (`?EIO=<v>&transport=websocket`) or a polling
        session upgrading (`&sid=`); the engine.io error to refuse it with otherwise."""
        if query.get("transport") != "websocket":
            return EngineError.TRANSPORT_UNKNOWN
        if query.get("EIO") != str(self.version):
            return EngineError.UNSUPPORTED_PROTOCOL_VERSION
        sid = query.get("sid")
        if sid is None:
            return None
        session = self.sessions.get(sid)
        if session is None:
            return EngineError.SESSION_ID_UNKNOWN
        if session.polling is None or session.polling.probed:  # on a websocket already, or upgrading
            return EngineError.BAD_REQUEST
        return None

    def carry(self, link: Link, query: Mapping[str, str], origin: str | None = None) -> Carrier:
        """An admitted websocket, accepted: it opens a new session or starts upgrading one (which keeps the
        origin of its polling handshake)."""
        sid = query.get("sid")
        if sid is None:
            return Carrier.opening(self, link, query, origin)
        return Carrier.upgrading(self, link, self.sessions[sid])

    async def websocket(self, websocket: WebSocket) -> None:
        """The same over an ASGI websocket (parley served by another ASGI server than its own `parley serve`,
        which serves these sockets itself: `native.py`)."""
        query = websocket.query_params
        refusal = self.admit(query)
        if refusal is not None:
            await _refuse(websocket, refusal)
            return
        await websocket.accept()
        outbox = Outbox(_sender(websocket), overflow=lambda: asyncio.ensure_future(_close(websocket)))
        headers = websocket.headers
        origin = cross_origin(headers.get("origin"), headers.get("host"), websocket.scope.get("scheme", "ws"))
        link = _AsgiLink(websocket, outbox)
        carrier = self.carry(link, query, origin)
        try:
            while carrier.stage is not Stage.ENDED:
                await link.readable.wait()  # not while the carrier holds too many messages (HOLD_AT)
                carrier.received(await _receive(websocket))
        except WebSocketDisconnect:
            pass
        finally:
            carrier.lost()
            await outbox.close()


class Link(Protocol):
    """A websocket as the engine drives it, whoever serves it."""

    def send(self, frame: str) -> None:
        """Queue one text frame; never blocks, keeps order."""

    def close(self) -> None:
        """Close the websocket (normal closure); the transport reports `lost` once it is gone."""

    def hold(self, holding: bool) -> None:
        """Stop (True) or resume (False) reading frames from the client."""


class Stage(IntEnum):
    OPENING = 0  # the dialect is being told about a new session
    PROBING = 1  # an upgrade: waiting for `2probe`
    UPGRADING = 2  # an upgrade: probed, waiting for `5`
    CARRYING = 3  # the websocket carries its session
    ENDED = 4


class Carrier:
    """One websocket of an Engine.IO session, driven by its transport: `received` for each frame, `lost` once.

    Its messages are handled one at a time, in order, by a task that exists only while some are waiting, and the
    silence limit is one timer: an idle socket holds no task and no coroutine (what W5 measures).
    """

    __slots__ = ("_heard", "_held", "_inbox", "_silence", "_worker", "engine", "link", "session", "stage")

    def __init__(self, engine: Engine, link: Link, stage: Stage, session: Session | None) -> None:
        self.engine = engine
        self.link = link
        self.stage = stage
        self.session = session
        self._inbox: deque[str] | None = None  # messages waiting to be handled; made when the first comes
        self._worker: asyncio.Future[None] | None = None
        self._heard = asyncio.get_running_loop().time()
        self._silence: asyncio.TimerHandle | None = None
        self._held = False  # reading paused: a client sending faster than its messages are handled

    @classmethod
    def opening(cls, engine: Engine, link: Link, query: Mapping[str, str], origin: str | None) -> Carrier:
        carrier = cls(engine, link, Stage.OPENING, None)
        carrier._worker = asyncio.ensure_future(carrier._open(dict(query), origin))
        return carrier

    @classmethod
    def upgrading(cls, engine: Engine, link: Link, session: Session) -> Carrier:
        assert session.polling is not None
        session.polling.probed = True  # one upgrade attempt at a time
        carrier = cls(engine, link, Stage.PROBING, session)
        carrier._silence = asyncio.get_running_loop().call_later(engine.config.upgrade_timeout_s,
                                                                 carrier._upgrade_failed)
        return carrier

    def received(self, frame: str | None) -> None:
        """One frame from the client (None: a binary one, which no dialect uses)."""
        self._heard = asyncio.get_running_loop().time()
        if self.stage in (Stage.PROBING, Stage.UPGRADING):
            self._upgrade_step(frame)
            return
        if frame is None or self.stage is Stage.ENDED:
            return
        try:
            packet = decode_packet(frame)
        except ProtocolError:
            return  # not Engine.IO at all: ignore it and keep the socket
        if packet.type is not PacketType.MESSAGE:
            if not control(self.session, packet):
                self._end()
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(packet.data)
        if len(inbox) >= HOLD_AT and not self._held:
            self._held = True
            self.link.hold(True)
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    def lost(self) -> None:
        """The websocket is gone, whichever side closed it."""
        if self.stage in (Stage.PROBING, Stage.UPGRADING):
            self._upgrade_failed()
            return
        self._stop_watching()
        if self.stage is Stage.ENDED:
            return
        self.stage = Stage.ENDED
        if self._worker is None:  # else the worker ends the session once the messages received are handled
            self._worker = asyncio.ensure_future(self._close_session())

    async def _open(self, query: dict[str, str], origin: str | None) -> None:
        try:
            self.session = await self.engine.open(self.link.send, query, origin=origin)
        except Exception:  # a dialect's bug: this socket ends, the server goes on
            log.exception("Engine.IO session could not be opened: the socket is closed")
            self._worker = None
            self._inbox = None
            self._end()
            return
        if self.stage is Stage.OPENING:
            self.stage = Stage.CARRYING
            self._watch()
        await self._work()

    async def _work(self) -> None:
        """Handle the waiting messages in order; end the session if the socket went meanwhile."""
        try:
            inbox = self._inbox
            while inbox and self.session is not None:
                await self.session.handler.message(inbox.popleft())
                if self._held and len(inbox) <= RELEASE_AT:
                    self._held = False
                    self.link.hold(False)
        except Exception:  # a dialect's bug: this socket ends, the server goes on
            log.exception("Engine.IO message handling failed: the socket is closed")
            self._inbox = None
            self._end()
        finally:
            self._worker = None
            if not self._inbox:
                self._inbox = None  # an idle socket keeps no queue
            if self.stage is Stage.ENDED:
                await self._close_session()

    def _end(self) -> None:
        """The server ends the session (the client closed it, or went silent)."""
        self.link.close()
        self.lost()

    async def _close_session(self) -> None:
        if self.session is not None:
            await self.engine.close(self.session)

    def _watch(self) -> None:
        """Close the session once its client has been silent for pingInterval + pingTimeout."""
        assert self.session is not None
        limit = self.session.socket.silence_limit_s
        self._silence = asyncio.get_running_loop().call_at(self._heard + limit, self._check_silence, limit)

    def _check_silence(self, limit: float) -> None:
        self._silence = None
        if asyncio.get_running_loop().time() - self._heard >= limit:
            self._end()
        else:
            self._watch()

    def _stop_watching(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    def _upgrade_step(self, frame: str | None) -> None:
        """`2probe` -> `3probe`, the pending poll answered so the client can pause polling, then its `5`."""
        session = self.session
        assert session is not None
        polling = session.polling
        if polling is None or session.closed:
            self._upgrade_failed()
            return
        if self.stage is Stage.PROBING and frame == encode_packet(Packet(PacketType.PING, "probe")):
            self.link.send(encode_packet(Packet(PacketType.PONG, "probe")))
            polling.heard()  # the client has paused polling to upgrade: it must not expire meanwhile
            polling.upgrading = True
            polling.wake()
            self.stage = Stage.UPGRADING
        elif self.stage is Stage.UPGRADING and frame == encode_packet(Packet(PacketType.UPGRADE)):
            self._stop_watching()
            for pending in polling.switch():  # what polling still held goes first, in order
                self.link.send(pending)
            session.socket.carry_on(self.link.send)
            session.polling = None
            self.stage = Stage.CARRYING
            self._watch()
        else:
            self._upgrade_failed()

    def _upgrade_failed(self) -> None:
        """The websocket did not complete the upgrade: it closes and the session goes on polling."""
        self._stop_watching()
        if self.stage not in (Stage.PROBING, Stage.UPGRADING):
            return
        self.stage = Stage.ENDED
        polling = self.session.polling if self.session is not None else None
        if polling is not None:
            polling.upgrading = polling.probed = False
        self.link.close()


class _AsgiLink:
    __slots__ = ("_closing", "_outbox", "_websocket", "readable")

    def __init__(self, websocket: WebSocket, outbox: Outbox) -> None:
        self._websocket = websocket
        self._outbox = outbox
        self._closing: asyncio.Future[None] | None = None
        self.readable = asyncio.Event()  # cleared while the carrier holds: `Engine.websocket` stops receiving
        self.readable.set()

    def send(self, frame: str) -> None:
        self._outbox.push(frame)

    def close(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(_close(self._websocket))
        self.readable.set()  # a held socket that ends is read until its disconnect

    def hold(self, holding: bool) -> None:
        # Only the receive loop can stop reading here (uvicorn's ASGI websocket stops reading its client while
        # the application does not receive): without it the carrier's inbox grew without bound
        if holding:
            self.readable.clear()
        else:
            self.readable.set()


async def _receive(websocket: WebSocket) -> str | None:
    """The next frame's text, None for a binary frame (Starlette's `receive_text` fails on one with a KeyError)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


def _sender(websocket: WebSocket) -> Callable[[str], Awaitable[None]]:
    """An outbox's writer. Once the client is gone, writes are dropped: the frames answer messages it sent before
    it went, and its session ends as soon as the receiving side reads the disconnect."""

    async def send(frame: str) -> None:
        # WebSocketDisconnect: the connection is lost; RuntimeError: it is closed already (Starlette's
        # WebSocketDisconnected after a failed write)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.send_text(frame)

    return send


async def _close(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # a failed write may have closed it already
        await websocket.close(code=1000)


async def _refuse(websocket: WebSocket, error: EngineError) -> None:
    """Refuse a handshake with engine.io's error body (status 400) where the server can send one, else a 403."""
    try:
        await websocket.send_denial_response(engine_error(error))
    except RuntimeError:
        await websocket.close(code=1008)


def control(session: Session | None, packet: Packet) -> bool:
    """A packet other than a message, on either transport: protocol 3 pings are answered (a session still opening
    has nothing to answer with); False for the client's close. Protocol 4 pongs need nothing: receiving anything
    proves the client alive."""
    if packet.type is PacketType.CLOSE:
        return False
    if packet.type is PacketType.PING and session is not None and session.socket.version < 4:
        session.socket.push(encode_packet(Packet(PacketType.PONG, packet.data)))
    return True


def _keep_pinging(session: Session) -> None:
    """Protocol 4: the server pings every pingInterval (a timer, not a task: nothing per socket in between)."""
    interval = session.socket.ping_interval_ms / 1000
    session.heartbeat = asyncio.get_running_loop().call_later(interval, _ping, session)


def _ping(session: Session) -> None:
    if not session.closed:
        session.socket.push(PING)
        _keep_pinging(session)
