"""The real-time side of the load generator: a minimal websocket client, an `/rtc` (Engine.IO 3) receiver that
records when each text message arrives, and open-loop senders (REST or the socket's `text` request).

Everything runs in one asyncio (uvloop) event loop in the generator process. The receivers are the hot path
(W3 parses N - 1 copies of every message), so they are bare `asyncio.Protocol`s: a frame is parsed from the
received bytes by hand, and a pushed text message is recognised by searching its bytes for the run's marker
`b<run>-`, without decoding the JSON around it. Like a browser or Node's `ws`, a receiver offers
permessage-deflate; if the server accepts it, frames are inflated (that cost then shows in the generator CPU).
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import time
import zlib
from array import array
from collections.abc import Callable
from typing import Any

import orjson

from parleybench.client import HOST

CONNECT_TIMEOUT_S = 30.0
KEEP_ALIVE_S = 3.0  # reuse a sender connection only if idle for less (uvicorn's keep-alive timeout is 5 s)
CONNECT_BATCH = 100  # concurrent websocket handshakes while connecting many receivers
DEFLATE_TAIL = b"\x00\x00\xff\xff"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit towards `needed` (up to the hard limit); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the venv has uvloop (uvicorn[standard])
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_async(main: Any) -> Any:
    """Run a coroutine in a fresh uvloop event loop (the generator's loop for one workload step)."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)


def _mask(payload: bytes, key: bytes) -> bytes:
    """Client-to-server frames are masked (RFC 6455 §5.3); the generator's own frames are few and small."""
    length = len(payload)
    repeated = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return head + key + _mask(payload, key)


class WebSocket(asyncio.Protocol):
    """One client websocket. `on_text(payload_bytes)` is called for every text message."""

    def __init__(self, path: str, port: int, on_text: Callable[[bytes], None], deflate: bool = True) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
        self._request = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         f"{offer}\r\n").encode()
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.close_code: int | None = None
        self.compressed = False  # the server accepted permessage-deflate
        self._inflate: Any = None
        self._upgraded = False
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._fragment_compressed = False

    # -- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's transports are not asyncio's classes)
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during the handshake: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            self._handshake(buffer[:end].decode("latin-1"))
            buffer = buffer[end + 4:]
        size = len(buffer)
        position = 0
        while size - position >= 2:  # one loop per frame; the common case is exactly one frame per call
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            start = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[start:start + 2], "big")
                start += 2
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[start:start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            self._frame(first, buffer[start:end])
            position = end
        self._buffer = buffer[position:] if position < size else b""

    # -- frames ------------------------------------------------------------------------------------------------
    def _handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        if " 101 " not in lines[0] + " ":
            self.opened.set_exception(ConnectionError(f"websocket refused: {lines[0]}"))
            assert self.transport is not None
            self.transport.close()
            return
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions" and "permessage-deflate" in value:
                self.compressed = True
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self._upgraded = True
        self.opened.set_result(None)

    def _frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        if opcode == OP_TEXT and first & 0x80:  # the hot path: a whole text message in one frame
            if first & 0x40:
                payload = self._inflate.decompress(payload + DEFLATE_TAIL)
            self.on_text(payload)
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if opcode != OP_CONT:
                self._fragments, self._fragment_compressed = [], bool(first & 0x40)
            self._fragments.append(payload)
            if first & 0x80:
                message = b"".join(self._fragments)
                if self._fragment_compressed:
                    message = self._inflate.decompress(message + DEFLATE_TAIL)
                self._fragments = []
                if opcode in (OP_TEXT, OP_CONT):
                    self.on_text(message)
        elif opcode == OP_PING:  # uvicorn pings every 20 s and closes a socket that does not answer
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send_frame(OP_CLOSE, payload[:2])
            self.closed = True
            assert self.transport is not None
            self.transport.close()

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send_frame(OP_CLOSE, (1000).to_bytes(2, "big"))
            self.transport.close()
        self.closed = True


async def open_websocket(port: int, path: str, on_text: Callable[[bytes], None], deflate: bool = True,
                         made: Callable[[WebSocket], None] | None = None) -> WebSocket:
    """Connect and upgrade; `made` gets the socket before any frame arrives (the first frames may come in the
    same read as the 101 response)."""
    loop = asyncio.get_running_loop()

    def factory() -> WebSocket:
        socket = WebSocket(path, port, on_text, deflate)
        if made is not None:
            made(socket)
        return socket

    _, protocol = await asyncio.wait_for(loop.create_connection(factory, HOST, port), CONNECT_TIMEOUT_S)
    await asyncio.wait_for(protocol.opened, CONNECT_TIMEOUT_S)
    return protocol


# -- the /rtc dialect ------------------------------------------------------------------------------------------

RTC_PATH = "/rtc/?EIO=3&transport=websocket"


class Deliveries:
    """What all receivers of one measured step saw: per message sequence number, who got it and when.

    `expected[seq]` is the number of counted receivers; each counted receiver has one byte per message (how
    often it got it), so duplicates and losses are exact; latencies are kept as they arrive (seconds).
    """

    def __init__(self, run: str, messages: int) -> None:
        self.marker = f"b{run}-".encode()
        self.messages = messages
        self.starts = array("d", bytes(8 * messages))  # perf_counter when send i started (0 = not yet)
        self.latencies = array("d")
        self.first_at = 0.0
        self.last_at = 0.0
        self.unique = 0
        self.duplicated = 0
        self.foreign = 0  # frames with our marker but an unknown sequence number

    def seen(self, counts: bytearray, payload: bytes, now: float) -> None:
        marker = self.marker
        at = payload.find(marker)
        if at < 0:
            return
        at += len(marker)
        seq = int(payload[at:payload.index(b"-", at)])
        if not 0 <= seq < self.messages or self.starts[seq] == 0.0:
            self.foreign += 1
            return
        if counts[seq]:
            self.duplicated += 1
            if counts[seq] < 255:
                counts[seq] += 1
            return
        counts[seq] = 1
        self.unique += 1
        self.latencies.append(now - self.starts[seq])
        if not self.first_at:
            self.first_at = now
        self.last_at = now


class RtcClient:
    """One user's `/rtc` socket: Engine.IO 3 open, socket.io connect, `session:login`; then it counts deliveries
    into the current `Deliveries` (when `counted`) and answers requests' replies for a socket sender."""

    def __init__(self, user: str, token: str, counted: bool = True) -> None:
        self.user = user
        self.token = token
        self.counted = counted
        self.socket: WebSocket | None = None
        self.deliveries: Deliveries | None = None
        self.counts = bytearray()
        self.ping_interval_s = 25.0
        self.replies: dict[str, asyncio.Future[float]] = {}  # tid -> when `text:success` arrived (socket sender)
        self.errors: list[str] = []
        self._state = "open"
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pinger: asyncio.Task[None] | None = None

    async def connect(self, port: int, deflate: bool = True) -> None:
        self.socket = await open_websocket(port, RTC_PATH, self._on_text, deflate, self._made)
        await asyncio.wait_for(self._ready, CONNECT_TIMEOUT_S)
        self._pinger = asyncio.ensure_future(self._ping())

    def watch(self, deliveries: Deliveries | None) -> None:
        self.deliveries = deliveries
        self.counts = bytearray(deliveries.messages) if deliveries is not None and self.counted else bytearray()

    def _made(self, socket: WebSocket) -> None:
        self.socket = socket

    @property
    def alive(self) -> bool:
        return self.socket is not None and not self.socket.closed and self._state == "ready"

    async def _ping(self) -> None:
        """Engine.IO 3: the client pings every `pingInterval` (the protocol's own keep-alive)."""
        while self.socket is not None and not self.socket.closed:
            await asyncio.sleep(self.ping_interval_s)
            if self.socket is not None:
                self.socket.send_text(b"2")

    def _on_text(self, payload: bytes) -> None:
        if self._state == "ready":
            if self.deliveries is not None and self.counted and payload[:8] == b'42["text':
                self.deliveries.seen(self.counts, payload, time.perf_counter())
            elif payload[:16] == b'42["text:success':
                self._reply(payload)
            elif payload[:4] == b'42["' and b'"rid"' in payload and b":error" in payload:
                self._reply(payload, error=True)
            return
        self._handshake(payload)

    def _reply(self, payload: bytes, error: bool = False) -> None:
        at = payload.find(b'"rid":"')
        if at < 0:
            return
        rid = payload[at + 7:payload.index(b'"', at + 7)].decode()
        waiter = self.replies.pop(rid, None)
        if waiter is not None and not waiter.done():
            if error:
                waiter.set_exception(RuntimeError(payload[:300].decode(errors="replace")))
            else:
                waiter.set_result(time.perf_counter())

    def _handshake(self, payload: bytes) -> None:
        assert self.socket is not None
        if self._state == "open" and payload[:1] == b"0":
            self.ping_interval_s = orjson.loads(payload[1:]).get("pingInterval", 25_000) / 1000.0
            self._state = "connect"
        elif self._state == "connect" and payload == b"40":
            login = ["session:login", {"tid": "login", "body": {"token": self.token}}]
            self.socket.send_text(b"42" + orjson.dumps(login))
            self._state = "login"
        elif self._state == "login" and payload.startswith(b"42"):
            name = orjson.loads(payload[2:])[0]
            if name == "session:success":
                self._state = "ready"
                self._ready.set_result(None)
            elif not self._ready.done():
                self._ready.set_exception(RuntimeError(f"login failed: {payload[:300]!r}"))

    def send_request(self, tid: str, frame: bytes) -> asyncio.Future[float]:
        """Write a prepared `42[...]` request; the future resolves when its `:success` reply arrives."""
        assert self.socket is not None
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.replies[tid] = waiter
        self.socket.send_text(frame)
        return waiter

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self.socket is not None:
            self.socket.close()


async def connect_all(clients: list[RtcClient], port: int, deflate: bool = True) -> list[str]:
    """Connect and log in every client, CONNECT_BATCH handshakes at a time; returns the failures."""
    failures: list[str] = []
    for start in range(0, len(clients), CONNECT_BATCH):
        batch = clients[start:start + CONNECT_BATCH]
        results = await asyncio.gather(*(c.connect(port, deflate) for c in batch), return_exceptions=True)
        failures += [f"{c.user}: {r!r}" for c, r in zip(batch, results, strict=True) if isinstance(r, BaseException)]
    return failures


# -- senders ---------------------------------------------------------------------------------------------------

class NotSent(Exception):
    """The generator could not start a send (every connection of its pool busy): the server never saw it."""


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection answering one request at a time (uvicorn always sends Content-Length)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._waiter: asyncio.Future[int] | None = None
        self.lost = False
        self.idle_since = time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self._buffer = buffer
            return
        head = buffer[:end]
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at)]) if at >= 0 else 0
        if len(buffer) < end + 4 + length:
            self._buffer = buffer
            return
        self._buffer = buffer[end + 4 + length:]
        status = int(head[9:12])
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)


class RestSender:
    """Open-loop REST sends: a pool of keep-alive connections, a new one only when every open one is busy."""

    MAX_CONNECTIONS = 64

    def __init__(self, port: int, token: str, path: str) -> None:
        self.port = port
        self._head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\n").encode()
        self._idle: list[HttpConnection] = []
        self.opened = 0

    def prepare(self, body: dict[str, Any]) -> bytes:
        data = orjson.dumps(body)
        return self._head + f"Content-Length: {len(data)}\r\n\r\n".encode() + data

    async def _connection(self) -> HttpConnection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.lost and time.perf_counter() - connection.idle_since < KEEP_ALIVE_S:
                return connection
            # uvicorn closes a keep-alive connection idle for 5 s; a request written as it does so is lost, so a
            # connection idle for longer than KEEP_ALIVE_S is retired before that can happen
            self.opened -= 1
            if connection.transport is not None:
                connection.transport.close()
        if self.opened >= self.MAX_CONNECTIONS:
            raise NotSent(f"all {self.MAX_CONNECTIONS} sender connections are busy")
        self.opened += 1
        _, connection = await asyncio.get_running_loop().create_connection(HttpConnection, HOST, self.port)
        return connection

    async def warm(self, count: int) -> None:
        """Fresh connections before the clock starts: uvicorn closes keep-alive connections idle for 5 s, so those
        of an earlier step are gone (and a send on one the server is just closing would fail)."""
        self.close()
        made = [await self._connection() for _ in range(count)]
        self._idle.extend(made)

    async def send(self, request: bytes) -> None:
        connection = await self._connection()
        try:
            status = await asyncio.wait_for(connection.request(request), CONNECT_TIMEOUT_S)
        except BaseException:  # timed out, cancelled at the end of a drain, or lost: that connection is done
            self.opened -= 1
            if connection.transport is not None:
                connection.transport.close()
            raise
        connection.idle_since = time.perf_counter()
        self._idle.append(connection)
        if status != 201:
            raise RuntimeError(f"HTTP {status}")

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self.opened -= len(self._idle)
        self._idle = []


class OpenLoop:
    """Starts send i at t0 + i / rate whether or not earlier sends completed (WORKLOADS.md, W2)."""

    def __init__(self, deliveries: Deliveries, rate: float, send: Callable[[int], Any]) -> None:
        self.deliveries = deliveries
        self.rate = rate
        self.send = send  # seq -> awaitable of the send's completion
        self.completions = array("d")
        self.errors: list[str] = []
        self.unsent: list[int] = []  # never reached the server (counted as errors, not as lost deliveries)
        self.lag_s = 0.0
        self.t0 = 0.0
        self._pending: set[asyncio.Task[None]] = set()

    async def _one(self, seq: int, started: float) -> None:
        try:
            await self.send(seq)
        except NotSent as exc:  # an open-loop sender that ran out of connections: the server is saturated
            self.unsent.append(seq)
            self.errors.append(f"{seq}: {exc!r}")
            return
        except Exception as exc:  # counted and reported, never retried
            self.errors.append(f"{seq}: {exc!r}")
            return
        self.completions.append(time.perf_counter() - started)

    async def run(self) -> None:
        perf = time.perf_counter
        starts = self.deliveries.starts
        interval = 1.0 / self.rate
        self.t0 = perf()
        for seq in range(self.deliveries.messages):
            target = self.t0 + seq * interval
            delay = target - perf()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            started = perf()
            starts[seq] = started
            self.lag_s = max(self.lag_s, started - target)
            task = asyncio.ensure_future(self._one(seq, started))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def finish(self, timeout_s: float) -> None:
        """Wait for the sends still in flight; cancel those left at the end (they count as errors), so that
        the next step starts with no request of this one outstanding."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
        left = list(self._pending)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)
            self.errors += [f"no reply by the end of the drain ({len(left)} sends)"] * len(left)
