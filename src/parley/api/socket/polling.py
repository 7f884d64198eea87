"""The Engine.IO HTTP long-polling transport (nexmo-conversation 0.1.x starts on it, then upgrades).

- `GET ?EIO=<v>&transport=polling` (no `sid`) opens a session; the answer is a payload holding its open packet
  and whatever the dialect queued on connecting (`0{…}` then `40` for socket.io 2.x).
- `GET …&sid=<id>` waits until the session has frames, then answers them all as one payload: `<length>:<frame>`
  in protocol 3 (lengths in UTF-16 code units), frames joined by `\\x1e` in protocol 4. One poll at a time.
- `POST …&sid=<id>` carries a payload of client packets; they are handled in order before the `ok` answer, so
  the replies they queue are in the session before the client's next request can be.
- `b64=1` (sent by engine.io-client 3.x under Node, whose XHR lacks `responseType`) is accepted and changes
  nothing: it only concerns binary packets, which these dialects never send. JSONP (`j=`) is refused: it is
  engine.io-client's fallback for browsers without XHR, which none of the target SDKs run in.
- Errors are engine.io's own JSON (`{"code":1,"message":"Session ID unknown"}`), status 400 (403 for
  `Forbidden`, 413 for an oversized body, which also ends the session: its packets are lost).

A session on polling that gets no packet (no POST) from its client for `pingInterval + pingTimeout` is closed;
a poll that is pending then is answered with the close packet `1`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from parley.api.cors import cross_origin
from parley.api.socket.engineio import Packet, PacketType, ProtocolError, decode_payload, encode_packet, join_frames
from parley.realtime.hub import MAX_BACKLOG

if TYPE_CHECKING:
    from parley.api.socket.engine import Engine, Session

TEXT = "text/plain; charset=UTF-8"
NOOP = encode_packet(Packet(PacketType.NOOP))
CLOSE = encode_packet(Packet(PacketType.CLOSE))


class EngineError(IntEnum):
    """engine.io's error codes, answered as `{"code", "message"}`."""

    TRANSPORT_UNKNOWN = 0
    SESSION_ID_UNKNOWN = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


MESSAGES = {EngineError.TRANSPORT_UNKNOWN: "Transport unknown",
            EngineError.SESSION_ID_UNKNOWN: "Session ID unknown",
            EngineError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
            EngineError.BAD_REQUEST: "Bad request",
            EngineError.FORBIDDEN: "Forbidden",
            EngineError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version"}


def engine_error(error: EngineError, status: int = 400, message: str | None = None) -> Response:
    body = orjson.dumps({"code": int(error), "message": message or MESSAGES[error]})
    return Response(body, status_code=status, media_type="application/json")


class Polling:
    """A session's polling transport: the frames waiting for the next poll, and that poll."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.frames: list[str] = []
        self.probed = False  # a websocket of the session is open, not yet upgraded
        self.upgrading = False  # that websocket answered the probe: answer polls at once
        self.polled = False  # a GET is pending
        self.ended = False  # the session closed: a pending poll gets the close packet
        self.moved = False  # the session moved to a websocket: a pending poll gets a noop
        self.last_heard = asyncio.get_running_loop().time()
        self._ready = asyncio.Event()

    def write(self, frame: str) -> None:
        if len(self.frames) >= MAX_BACKLOG:
            self.end()  # a client that stopped polling: end the session rather than keep everything for it
            return
        self.frames.append(frame)
        self._ready.set()

    def wake(self) -> None:
        self._ready.set()

    def end(self) -> None:
        self.ended = True
        self._ready.set()

    def switch(self) -> list[str]:
        """The session moves to a websocket: hand over the frames not yet polled."""
        frames, self.frames, self.moved = self.frames, [], True
        self._ready.set()
        return frames

    def heard(self) -> None:
        self.last_heard = asyncio.get_running_loop().time()

    async def poll(self, request: Request) -> Response | None:
        """Wait for frames (or an upgrade, or the end); None when the client went away first."""
        while not (self.frames or self.upgrading or self.ended or self.moved):
            self._ready.clear()
            if not await _first(self._ready.wait(), _disconnected(request)):
                return None
        if self.moved:
            return Response(join_frames([NOOP], self.version), media_type=TEXT)
        frames, self.frames = self.frames, []
        if self.ended:
            frames.append(CLOSE)
        return Response(join_frames(frames or [NOOP], self.version), media_type=TEXT,
                        headers={"cache-control": "no-store"})


async def serve_polling(engine: Engine, request: Request) -> Response:
    query = request.query_params
    if query.get("transport") != "polling":
        return engine_error(EngineError.TRANSPORT_UNKNOWN)
    if query.get("EIO") != str(engine.version):
        return engine_error(EngineError.UNSUPPORTED_PROTOCOL_VERSION)
    if "j" in query:  # JSONP: only for browsers without XHR, which no target SDK supports
        return engine_error(EngineError.BAD_REQUEST, message="JSONP polling is not supported")
    sid = query.get("sid")
    if sid is None:
        if request.method != "GET":
            return engine_error(EngineError.BAD_HANDSHAKE_METHOD)
        return await _handshake(engine, request, query)
    session = engine.sessions.get(sid)
    if session is None:
        return engine_error(EngineError.SESSION_ID_UNKNOWN)
    polling = session.polling
    if polling is None:  # the session is on a websocket
        return engine_error(EngineError.BAD_REQUEST)
    if request.method == "GET":
        return await _get(engine, session, polling, request)
    if request.method != "POST":  # HEAD (Starlette adds it to GET routes): neither a poll nor packets
        return engine_error(EngineError.BAD_REQUEST)
    polling.heard()  # as engine.io: only packets from the client (pings, pongs, messages) prove it alive
    return await _post(engine, session, request)


async def _handshake(engine: Engine, request: Request, query: Mapping[str, str]) -> Response:
    polling = Polling(engine.version)
    headers = request.headers
    origin = cross_origin(headers.get("origin"), headers.get("host"), request.scope.get("scheme", "http"))
    session = await engine.open(polling.write, query, upgrades=["websocket"], origin=origin)
    session.polling = polling
    session.tasks.append(asyncio.ensure_future(_expire(engine, session, polling)))
    frames, polling.frames = polling.frames, []
    return Response(join_frames(frames, engine.version), media_type=TEXT, headers={"cache-control": "no-store"})


async def _get(engine: Engine, session: Session, polling: Polling, request: Request) -> Response:
    if polling.polled:  # the protocol allows one poll at a time: a second one is a broken client
        await engine.close(session)
        return engine_error(EngineError.BAD_REQUEST, message="Overlapping polls")
    polling.polled = True
    try:
        answer = await polling.poll(request)
    finally:
        polling.polled = False
    return answer if answer is not None else Response(status_code=499)


async def _post(engine: Engine, session: Session, request: Request) -> Response:
    limit = engine.config.max_payload_bytes
    body = await _body(request, limit)
    if body is None:
        await engine.close(session)
        return engine_error(EngineError.BAD_REQUEST, 413, f"Payload larger than {limit} bytes")
    try:
        packets = decode_payload(body.decode(), engine.version)
    except (UnicodeDecodeError, ProtocolError) as error:
        return engine_error(EngineError.BAD_REQUEST, message=str(error))
    for packet in packets:
        if not await engine.received(session, packet):
            await engine.close(session)
            break
    return Response("ok", media_type="text/html; charset=UTF-8")


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None past `limit` bytes (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _expire(engine: Engine, session: Session, polling: Polling) -> None:
    """Close a polling session whose client has gone silent (it stops once the session moved or closed)."""
    loop = asyncio.get_running_loop()
    limit = session.socket.silence_limit_s
    with contextlib.suppress(asyncio.CancelledError):
        while session.polling is polling and not session.closed:
            quiet = loop.time() - polling.last_heard
            if quiet >= limit:
                await engine.close(session)
                return
            await asyncio.sleep(limit - quiet)


async def _disconnected(request: Request) -> None:
    """Returns when the client of a request whose body is read has gone away."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _first(wanted: Coroutine[Any, Any, object], unless: Coroutine[Any, Any, object]) -> bool:
    """Await `wanted` unless `unless` finishes first; True when `wanted` did."""
    wanted_task = asyncio.ensure_future(wanted)
    unless_task = asyncio.ensure_future(unless)
    done, pending = await asyncio.wait({wanted_task, unless_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return wanted_task in done
