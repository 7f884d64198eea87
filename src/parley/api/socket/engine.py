"""The Engine.IO server side, independent of what travels inside it: the handshake, the heartbeat and the
transports, for protocol 3 (socket.io-client 2.x, `/rtc`) and 4 (socket.io-client 4.x, `/v2/rtc`).

A dialect (the socket-RPC of `/rtc`, the session protocol of `/v2/rtc`) only sees Engine.IO *messages*: it is
handed an `EngineSocket` when a client opens one, gets each message's text, and pushes frames back through
`EngineSocket.push`. Frames are whole Engine.IO packets (`4` + the message), so the hub can encode an event once
and hand the same string to every socket of that dialect.

Heartbeat: in protocol 3 the client pings and the server answers; in protocol 4 the server pings and the client
answers. Either way a socket that stays silent longer than `pingInterval + pingTimeout` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.api.socket.engineio import Packet, PacketType, ProtocolError, decode_packet, encode_packet
from parley.realtime.hub import Outbox

PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 20_000


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

    def opening(self) -> str:
        handshake = {"sid": self.id, "upgrades": [], "pingInterval": self.ping_interval_ms,
                     "pingTimeout": self.ping_timeout_ms}
        if self.version >= 4:
            handshake["maxPayload"] = 1_000_000
        return encode_packet(Packet(PacketType.OPEN, orjson.dumps(handshake).decode()))

    @property
    def silence_limit_s(self) -> float:
        return (self.ping_interval_ms + self.ping_timeout_ms) / 1000


async def serve_websocket(websocket: WebSocket, dialect: Dialect) -> None:
    """A client that opens straight on the websocket transport (`?EIO=<v>&transport=websocket`)."""
    query = websocket.query_params
    if query.get("EIO") != str(dialect.engine_version) or query.get("transport") != "websocket":
        await websocket.close(code=1002)
        return
    await websocket.accept()
    outbox = Outbox(websocket.send_text)
    # the intervals are read per socket (not bound as defaults) so a test can shorten them
    socket = EngineSocket(dialect.engine_version, outbox.push, PING_INTERVAL_MS, PING_TIMEOUT_MS)
    socket.push(socket.opening())
    handler = await dialect.connected(socket, query)
    heartbeat = asyncio.ensure_future(_ping(socket)) if socket.version >= 4 else None
    try:
        while True:
            try:
                frame = await asyncio.wait_for(websocket.receive_text(), socket.silence_limit_s)
            except TimeoutError:
                await websocket.close(code=1000)
                return
            if not await _frame(socket, handler, frame):
                await websocket.close()
                return
    except WebSocketDisconnect:
        return
    finally:
        socket.closing = True
        if heartbeat is not None:
            heartbeat.cancel()
        await handler.closed()
        await outbox.close()


async def _frame(socket: EngineSocket, handler: SocketHandler, frame: str) -> bool:
    """Handle one Engine.IO packet from the client; False when the client closed the session."""
    try:
        packet = decode_packet(frame)
    except ProtocolError:
        return True  # not Engine.IO at all: ignore it and keep the socket
    if packet.type is PacketType.PING and socket.version < 4:  # protocol 3: the client pings
        socket.push(encode_packet(Packet(PacketType.PONG, packet.data)))
    elif packet.type is PacketType.CLOSE:
        return False
    elif packet.type is PacketType.MESSAGE:
        await handler.message(packet.data)
    return True  # protocol 4 pongs only prove the client is alive, which receiving anything does


async def _ping(socket: EngineSocket) -> None:
    """Protocol 4: the server pings every pingInterval."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(socket.ping_interval_ms / 1000)
            socket.push(encode_packet(Packet(PacketType.PING)))
