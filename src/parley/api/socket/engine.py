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
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.api.socket.engineio import Packet, PacketType, ProtocolError, decode_packet, encode_packet
from parley.api.socket.polling import EngineError, Polling, engine_error, serve_polling
from parley.realtime.hub import Outbox

PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 20_000
MAX_PAYLOAD_BYTES = 1_000_000  # a polling POST body or a websocket frame; announced as maxPayload in protocol 4
UPGRADE_TIMEOUT_S = 10.0  # from the websocket's opening to its `5`, as engine.io's upgradeTimeout


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
    """One Engine.IO session. `push` queues a whole frame on whichever transport carries the session."""

    def __init__(self, version: int, write: Callable[[str], None],
                 ping_interval_ms: int = PING_INTERVAL_MS, ping_timeout_ms: int = PING_TIMEOUT_MS) -> None:
        self.id = str(uuid.uuid4())
        self.version = version
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
                   upgrades: list[str] | None = None) -> Session:
        """A new session: its open packet queued, the dialect told, the heartbeat started."""
        socket = EngineSocket(self.version, write, self.config.ping_interval_ms, self.config.ping_timeout_ms)
        socket.push(socket.opening(upgrades))
        session = Session(socket, await self.dialect.connected(socket, query))
        self.sessions[socket.id] = session
        if socket.version >= 4:
            session.tasks.append(asyncio.ensure_future(_ping(socket)))
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
        if session.polling is not None:
            session.polling.end()
        await session.handler.closed()

    async def received(self, session: Session, packet: Packet) -> bool:
        """Handle one Engine.IO packet from the client; False when the client closed the session."""
        socket = session.socket
        if packet.type is PacketType.PING and socket.version < 4:  # protocol 3: the client pings
            socket.push(encode_packet(Packet(PacketType.PONG, packet.data)))
        elif packet.type is PacketType.CLOSE:
            return False
        elif packet.type is PacketType.MESSAGE:
            await session.handler.message(packet.data)
        return True  # protocol 4 pongs only prove the client is alive, which receiving anything does

    async def http(self, request: Request) -> Response:
        """The polling transport: a GET without `sid` opens a session, then GETs poll and POSTs carry packets."""
        return await serve_polling(self, request)

    async def websocket(self, websocket: WebSocket) -> None:
        """A websocket: a new session (`?EIO=<v>&transport=websocket`), or a polling session upgrading (`&sid=`)."""
        query = websocket.query_params
        if query.get("transport") != "websocket":
            await _refuse(websocket, EngineError.TRANSPORT_UNKNOWN)
            return
        if query.get("EIO") != str(self.version):
            await _refuse(websocket, EngineError.UNSUPPORTED_PROTOCOL_VERSION)
            return
        sid = query.get("sid")
        if sid is not None:
            await self._upgrade(websocket, sid)
            return
        await websocket.accept()
        outbox = Outbox(_sender(websocket), overflow=lambda: asyncio.ensure_future(_close(websocket)))
        session = await self.open(outbox.push, query)
        await self._carry(websocket, session, outbox)

    async def _upgrade(self, websocket: WebSocket, sid: str) -> None:
        session = self.sessions.get(sid)
        polling = session.polling if session is not None else None
        if session is None:
            await _refuse(websocket, EngineError.SESSION_ID_UNKNOWN)
            return
        if polling is None or polling.probed:  # on a websocket already, or upgrading
            await _refuse(websocket, EngineError.BAD_REQUEST)
            return
        polling.probed = True  # one upgrade attempt at a time
        await websocket.accept()
        try:
            probed = await asyncio.wait_for(self._probe(websocket, polling), self.config.upgrade_timeout_s)
        except (TimeoutError, WebSocketDisconnect):
            probed = False
        if not probed or session.closed:
            polling.upgrading = polling.probed = False  # the session goes on polling
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()
            return
        outbox = Outbox(_sender(websocket), overflow=lambda: asyncio.ensure_future(_close(websocket)))
        for frame in polling.switch():  # what polling still held goes first, in order
            outbox.push(frame)
        session.socket.carry_on(outbox.push)
        session.polling = None
        await self._carry(websocket, session, outbox)

    @staticmethod
    async def _probe(websocket: WebSocket, polling: Polling) -> bool:
        """`2probe` -> `3probe`, then the pending poll is answered so the client can pause polling and send `5`."""
        if await _receive(websocket) != encode_packet(Packet(PacketType.PING, "probe")):
            return False
        await websocket.send_text(encode_packet(Packet(PacketType.PONG, "probe")))
        polling.heard()  # the client has paused polling to upgrade: it must not expire meanwhile
        polling.upgrading = True
        polling.wake()
        return await _receive(websocket) == encode_packet(Packet(PacketType.UPGRADE))

    async def _carry(self, websocket: WebSocket, session: Session, outbox: Outbox) -> None:
        """The websocket carries the session until either side closes it or the client goes silent."""
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(_receive(websocket), session.socket.silence_limit_s)
                except TimeoutError:
                    await _close(websocket)
                    return
                try:
                    packet = decode_packet(frame or "")
                except ProtocolError:
                    continue  # binary, or not Engine.IO at all: ignore it and keep the socket
                if not await self.received(session, packet):
                    await _close(websocket)
                    return
        except WebSocketDisconnect:
            return
        finally:
            await self.close(session)
            await outbox.close()


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


async def serve_websocket(websocket: WebSocket, dialect: Dialect) -> None:
    """A websocket-only endpoint (no polling, hence no upgrade)."""
    await Engine(dialect).websocket(websocket)


async def _ping(socket: EngineSocket) -> None:
    """Protocol 4: the server pings every pingInterval."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(socket.ping_interval_ms / 1000)
            socket.push(encode_packet(Packet(PacketType.PING)))

