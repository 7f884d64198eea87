"""What parley's own websocket protocol (`native.py`) does beyond the Engine.IO flows that
`test_engine_transports.py` runs on both stacks: messages in several frames, binary and invalid frames, a flood
of requests, a client that stops reading, paths that are not socket endpoints, compression, server shutdown.
A real uvicorn on loopback, a real websocket client, the echo dialect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from parley.api.cors import OriginPolicy, Origins
from parley.api.socket import native
from parley.api.socket.engine import MAX_PAYLOAD_BYTES, Engine
from parley.api.socket.native import SOCKETS, Sockets, WebSocketProtocol
from tests.unit.api.loopback import uvicorn_on_loopback
from tests.unit.api.test_engine_transports import Echo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Running:
    def __init__(self, url: str, server: uvicorn.Server, dialect: Echo) -> None:
        self.url = url
        self.server = server
        self.dialect = dialect

    def ws(self, path: str = "/e/", query: str = "EIO=3&transport=websocket") -> str:
        return f"{self.url}{path}?{query}"


@contextlib.asynccontextmanager
async def running(deflate: bool = False) -> AsyncIterator[Running]:
    dialect = Echo(3)
    sockets = Sockets({"/e/": Engine(dialect)}, OriginPolicy(Origins(["*"]), ttl=0))

    async def other(websocket: WebSocket) -> None:  # an ASGI websocket route that is no socket endpoint
        await websocket.accept()
        await websocket.send_text("asgi:" + await websocket.receive_text())
        await websocket.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Sockets]]:
        yield {SOCKETS: sockets}

    app = Starlette(routes=[WebSocketRoute("/other", other)], lifespan=lifespan)
    async with uvicorn_on_loopback(app, ws=WebSocketProtocol, ws_max_size=MAX_PAYLOAD_BYTES,
                                   ws_per_message_deflate=deflate) as (server, port):
        yield Running(f"ws://127.0.0.1:{port}", server, dialect)


async def opened(ws: ClientConnection) -> None:
    assert str(await ws.recv()).startswith("0{")


async def test_a_message_in_several_frames_is_one_message() -> None:
    async with running() as served, connect(served.ws()) as ws:
        await opened(ws)
        await ws.send(["4he", "l", "lo"])  # one text message, three frames
        assert await ws.recv() == "4echo:hello"


async def test_binary_frames_are_ignored_and_invalid_text_closes_1007() -> None:
    async with running() as served, connect(served.ws()) as ws:
        await opened(ws)
        await ws.send(b"\x00\x01")
        await ws.send("4after")
        assert await ws.recv() == "4echo:after"  # the binary frame changed nothing
        ws.protocol.send_text(b"4\xff\xfe")  # not UTF-8 (the client library would refuse to send it)
        ws.send_data()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    await asyncio.sleep(0.05)
    assert len(served.dialect.closed) == 1  # the session ended with its socket


async def test_a_flood_of_messages_is_answered_in_order() -> None:
    async with running() as served, connect(served.ws()) as ws:
        await opened(ws)
        for index in range(500):  # far more than a socket holds before it stops reading (HOLD_AT)
            await ws.send(f"4m{index}")
        answers = [await ws.recv() for _ in range(500)]
        assert answers == [f"4echo:m{index}" for index in range(500)]


async def test_a_client_that_stops_reading_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "MAX_WRITE_BUFFER_BYTES", 64 * 1024)
    async with running() as served:
        reader, writer = await asyncio.open_connection(*served.ws().removeprefix("ws://").split("/")[0].split(":"))
        writer.write(b"GET /e/?EIO=3&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 101")
        while not served.dialect.sockets:
            await asyncio.sleep(0.01)
        engine_socket = served.dialect.sockets[0]
        frame = "4" + "x" * 10_000
        for _ in range(2_000):  # 20 MB that nobody reads: more than loopback's buffers and the limit
            engine_socket.send(frame)
            if served.dialect.closed:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert served.dialect.closed == [engine_socket.id]  # dropped, its session ended
        writer.close()


async def test_other_paths_reach_the_asgi_application() -> None:
    async with running() as served, connect(served.ws("/other", "x=1")) as ws:
        await ws.send("hi")
        assert await ws.recv() == "asgi:hi"


async def test_compressed_sockets_when_the_server_offers_compression() -> None:
    async with running(deflate=True) as served, connect(served.ws()) as ws:
        assert ws.protocol.extensions, "permessage-deflate was negotiated"
        await opened(ws)
        await ws.send("4" + "z" * 5_000)
        assert await ws.recv() == "4echo:" + "z" * 5_000
    async with running(deflate=False) as served, connect(served.ws()) as ws:
        assert not ws.protocol.extensions


async def test_a_server_shutdown_closes_sockets_with_1012() -> None:
    async with running() as served, connect(served.ws()) as ws:
        await opened(ws)
        served.server.should_exit = True
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


async def test_a_ping_read_with_the_clients_close_frame_is_not_answered_on_a_compressed_socket(
        caplog: pytest.LogCaptureFixture) -> None:
    async with running(deflate=True) as served, connect(served.ws()) as ws:
        await opened(ws)
        ws.protocol.send_text(b"2")  # protocol 3: the server answers `3`, but the close frame comes in the same packet
        ws.protocol.send_close(1000)
        ws.send_data()
        await asyncio.wait_for(ws.wait_closed(), 5)
        await asyncio.sleep(0.05)
        assert len(served.dialect.closed) == 1
    failures = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert failures == []  # was: "protocol.data_received() call failed" (websockets' InvalidState)
