"""The Engine.IO websockets of `parley serve`, served below ASGI.

uvicorn hands every websocket handshake to the protocol class named by its `ws` option; `parley serve` names
`WebSocketProtocol`. For the socket endpoints (`/rtc`, `/v2/rtc`) it speaks the websocket itself and drives the
endpoint's `Engine` directly: frames in become `Carrier.received` calls, frames out are written to the transport
at once. Any other path is handed, untouched, to uvicorn's own websocket protocol and so to the ASGI application.

Why not uvicorn's ASGI websocket path, which served these sockets before: an idle socket there costs ~25 KiB
(a receive queue, an application task and its coroutine chain through the middleware, the handshake headers
kept twice), twice what the rest of an idle session needs (W5), and every pushed frame is a coroutine step
through that chain (most of W3's fan-out CPU). Here an idle socket is this object, its `websockets` sans-I/O
connection (the library still parses the handshake and the frames, answers pings and closes) and its `Carrier`.

Fan-out writes pre-framed bytes: the hub pushes one frame string to every socket of a dialect, so the
websocket frame around it is built once (`_framed` remembers the last one) and each socket only writes it.
A socket that negotiated permessage-deflate (`PARLEY_WS_COMPRESSION`) has its own compressor and frames its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from parley.api.cors import OriginPolicy, cross_origin, own_origin
from parley.api.socket.engine import Carrier, Engine
from parley.api.socket.polling import MESSAGES, EngineError

SOCKETS = "parley.sockets"  # the key of `Sockets` in the application's lifespan state
MAX_WRITE_BUFFER_BYTES = 4 * 1024 * 1024  # unsent bytes of a client that stopped reading before it is dropped
CLOSE_TIMEOUT_S = 2.0  # after the server's close frame, how long the client gets to answer it
log = logging.getLogger("parley.websocket")


@dataclass(frozen=True)
class Sockets:
    """What the protocol serves: the Engine of each socket path, and the origins allowed to open sockets."""

    engines: Mapping[str, Engine]
    origins: OriginPolicy


class _FrameCache:
    """The websocket frame of the last text written: a fan-out writes the same string to every socket."""

    __slots__ = ("framed", "text")

    def __init__(self) -> None:
        self.text = ""
        self.framed = b""

    def frame(self, text: str) -> bytes:
        if text is not self.text:
            self.framed = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
            self.text = text
        return self.framed


_framed = _FrameCache()


class WebSocketProtocol(asyncio.Protocol):
    """One websocket connection, from its handshake (handed over by uvicorn's HTTP protocol) to its end.

    It is also the `Link` its `Carrier` writes to."""

    __slots__ = ("_admitting", "_behind", "_closer", "_delegate", "_fragments", "app_state", "carrier", "config",
                 "conn", "deflate", "open", "server_state", "transport")

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config  # uvicorn's Config
        self.server_state = server_state  # uvicorn's ServerState: the connections a shutdown closes
        self.app_state = app_state
        extensions = [ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12,
                                                     compress_settings={"memLevel": 5})
                      ] if config.ws_per_message_deflate else None
        self.conn = ServerProtocol(extensions=extensions, max_size=config.ws_max_size, logger=log)
        self.transport: asyncio.Transport | None = None
        self.carrier: Carrier | None = None
        self.open = False  # handshake done, no close frame sent
        self.deflate = False
        self._fragments: tuple[Opcode, list[bytes]] | None = None  # a message arriving in several frames
        self._closer: asyncio.TimerHandle | None = None
        self._delegate: asyncio.Protocol | None = None  # uvicorn's protocol, serving a path that is no endpoint
        self._admitting: asyncio.Future[None] | None = None  # a handshake waiting for its origin to be checked
        self._behind = False  # the transport's buffer is past its high-water mark (the client reads slowly)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._delegate is not None:
            self._delegate.connection_lost(exc)
            return
        self.open = False
        self.server_state.connections.discard(self)
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self.carrier is not None:
            self.carrier.lost()

    def data_received(self, data: bytes) -> None:
        if self._delegate is not None:
            self._delegate.data_received(data)
            return
        conn = self.conn
        conn.receive_data(data)
        for event in conn.events_received():
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Request) and not self._handshake(event, data):
                return  # handed over to uvicorn's protocol
        self._flush()

    def eof_received(self) -> bool | None:
        if self._delegate is not None:
            return self._delegate.eof_received()
        self.conn.receive_eof()
        self._flush()
        return None

    def pause_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.pause_writing()
        self._behind = True

    def resume_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.resume_writing()
        self._behind = False

    def shutdown(self) -> None:
        """The server is stopping (uvicorn calls this on every open connection)."""
        if self.open:
            self.open = False
            self.conn.send_close(1012)  # service restart: clients reconnect
            self._flush()
        if self.transport is not None:
            self.transport.close()

    # Link

    def send(self, frame: str) -> None:
        transport = self.transport
        if not self.open or transport is None:
            return
        if self.deflate:
            # websockets refuses to frame anything once the client's close frame (or a protocol error) has been
            # read, which happens before `_flush` marks the socket closed: a frame pushed by a message that came
            # in the same packet (a protocol 3 ping's pong) is dropped, as any write to a closing socket
            if self.conn.state is not State.OPEN:
                return
            self.conn.send_text(frame.encode())
            self._flush()
        else:
            transport.write(_framed.frame(frame))
        # (the buffer's size is only looked at once the transport said it is filling: that call is ~10 % of a
        # fan-out's CPU when made for every write)
        if self._behind and transport.get_write_buffer_size() > MAX_WRITE_BUFFER_BYTES:
            # A client that stopped reading: keeping everything for it would grow without bound. It reconnects
            # and catches up from the store.
            log.warning("websocket client %s is %d bytes behind: dropped", _peer(transport), MAX_WRITE_BUFFER_BYTES)
            self.open = False
            transport.abort()

    def close(self) -> None:
        if not self.open or self.transport is None:
            return
        self.open = False
        self.conn.send_close(1000)
        self._flush()
        self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, self.transport.close)

    def hold(self, holding: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if holding:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # The handshake

    def _handshake(self, request: Request, raw: bytes) -> bool:
        """Accept or refuse a socket endpoint's handshake; False when the path is not one (handed over)."""
        path, _, query_string = request.path.partition("?")
        sockets = self.app_state.get(SOCKETS)
        engine = sockets.engines.get(path) if isinstance(sockets, Sockets) else None
        if engine is None:
            self._hand_over(raw)
            return False
        assert isinstance(sockets, Sockets)
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        host = request.headers.get("Host")
        scheme = "https" if self.transport is not None and self.transport.get_extra_info("sslcontext") else "http"
        origin = cross_origin(request.headers.get("Origin"), host, scheme)  # None: not a browser, or same-origin
        if origin is None:
            self._open(request, engine, query, None)
            return True
        own = own_origin(host, scheme)
        allowed = sockets.origins.cached(origin, own)
        if allowed is None:  # the applications' lists are due to be re-read: decide once they are
            assert self.transport is not None
            self.transport.pause_reading()
            self._admitting = asyncio.ensure_future(
                self._admit_origin(sockets.origins, request, engine, query, origin, own))
        elif allowed:
            self._open(request, engine, query, origin)
        else:
            self._refuse_origin()
        return True

    async def _admit_origin(self, policy: OriginPolicy, request: Request, engine: Engine, query: dict[str, str],
                            origin: str, own: str | None) -> None:
        try:
            allowed = await policy.allows(origin, own)
        except Exception:  # e.g. the database busy: refused, the client retries
            log.exception("websocket origin check failed")
            allowed = False
        self._admitting = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.resume_reading()
        if allowed:
            self._open(request, engine, query, origin)
        else:
            self._refuse_origin()
        self._flush()

    def _refuse_origin(self) -> None:
        self._refuse(self.conn.reject(403, "This origin may not open sockets (PARLEY_CORS_ORIGINS, "
                                           "parley app origins).\n"))

    def _open(self, request: Request, engine: Engine, query: dict[str, str], origin: str | None) -> None:
        """Accept an admitted handshake (or refuse it with engine.io's error) and start carrying its session;
        `origin`: the handshake's, when it is not the server's own."""
        refusal = engine.admit(query)
        if refusal is not None:
            self._refuse(_engine_error(self.conn, refusal))
            return
        response = self.conn.accept(request)
        if response.status_code != 101:  # not a valid websocket handshake
            self._refuse(response)
            return
        self.conn.send_response(response)
        self.open = True
        self.deflate = bool(self.conn.extensions)
        # websockets' parser keeps the handshake request for the connection's life; nothing reads it again
        request.headers.clear()
        self._flush()
        self.carrier = engine.carry(self, query, origin)

    def _refuse(self, response: Response) -> None:
        self.conn.send_response(response)  # a non-101 answer: websockets ends the connection after it

    def _hand_over(self, raw: bytes) -> None:
        """Not a socket endpoint: uvicorn's own websocket protocol serves it through the ASGI application. It
        gets this connection's events through this object: uvicorn's HTTP protocol installs this one on the
        transport only once the handshake has been handed to it, so the transport cannot be switched here."""
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

        transport, self.transport = self.transport, None
        assert transport is not None
        self.server_state.connections.discard(self)  # the other one registers itself for shutdowns
        other = WebSocketsSansIOProtocol(config=self.config, server_state=self.server_state,
                                         app_state=self.app_state)
        self._delegate = other
        other.connection_made(transport)
        other.data_received(raw)

    # Frames

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode, frame.data)
            else:
                self._fragments = (opcode, [bytes(frame.data)])
        elif opcode is Opcode.CONT and self._fragments is not None:
            first, parts = self._fragments
            parts.append(bytes(frame.data))
            if frame.fin:
                self._fragments = None
                self._message(first, b"".join(parts))
        # pings are answered and closes echoed by websockets itself (see _flush); pongs need nothing

    def _message(self, opcode: Opcode, data: bytes | bytearray | memoryview) -> None:
        if self.carrier is None or not self.open:
            return
        if opcode is Opcode.BINARY:
            self.carrier.received(None)
            return
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError:
            self.open = False
            self.conn.fail(1007, "invalid UTF-8")
            return
        self.carrier.received(text)

    def _flush(self) -> None:
        """Write what websockets has to send; an empty chunk is its signal to close the connection."""
        transport = self.transport
        if transport is None:
            return
        for chunk in self.conn.data_to_send():
            if chunk:
                transport.write(chunk)
            else:
                self.open = False
                transport.close()


def _engine_error(conn: ServerProtocol, error: EngineError) -> Response:
    """engine.io's error body, status 400, as its own server answers a refused websocket handshake."""
    response = conn.reject(400, "")
    body = orjson.dumps({"code": int(error), "message": MESSAGES[error]})
    response.headers = Headers([("Connection", "close"), ("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
    response.body = body
    return response


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"
