"""What a hostile or broken client does to the engine's websockets: binary frames, vanishing with its messages
still being handled. The session must go on, or end, cleanly: no exception escaping to uvicorn (which logs
"Exception in ASGI application"), nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from parley.api.socket.engineio import Packet, PacketType
from tests.unit.api.test_engine_transports import Served, handshake, poll, post, serving


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.asynccontextmanager
async def watched(version: int) -> AsyncIterator[tuple[Served, list[str]]]:
    """A served engine and what uvicorn logs at ERROR meanwhile (its logger, configured when the server
    starts, does not propagate to the root)."""
    async with serving(version) as served:
        errors = Errors()
        logger = logging.getLogger("uvicorn.error")
        logger.addHandler(errors)
        try:
            yield served, errors.messages
        finally:
            logger.removeHandler(errors)


@pytest.mark.parametrize("version", [3, 4])
async def test_a_binary_frame_is_ignored_and_the_socket_stays(version: int) -> None:
    async with watched(version) as (served, errors):
        async with connect(served.ws_url(f"EIO={version}&transport=websocket")) as ws:
            assert str(await ws.recv()).startswith("0{")
            await ws.send(b"\x04binary")  # these dialects carry no binary: nothing to answer
            await ws.send("4after")
            assert await ws.recv() == "4echo:after"
            assert len(served.engine.sessions) == 1
        assert errors == []


async def test_a_binary_frame_during_the_probe_leaves_the_session_on_polling() -> None:
    async with watched(3) as (served, errors), httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")) as ws:
            await ws.send(b"2probe")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        await post(client, served, 3, sid, [Packet(PacketType.MESSAGE, "still")])
        assert await poll(client, served, 3, sid) == [Packet(PacketType.MESSAGE, "echo:still")]
        async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")) as ws:  # it may still upgrade
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
        assert errors == []


@pytest.mark.parametrize("version", [3, 4])
async def test_a_client_gone_while_its_messages_are_handled_ends_its_session_cleanly(version: int) -> None:
    """The connection drops with messages of the client still to handle: their answers cannot be sent."""
    async with watched(version) as (served, errors):
        ws = await connect(served.ws_url(f"EIO={version}&transport=websocket"))
        assert str(await ws.recv()).startswith("0{")
        (server_socket,) = served.dialect.sockets
        for n in range(50):  # written at once, then the connection ends: the server reads them after the end
            ws.protocol.send_text(f"4m{n}".encode())
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        ws.transport.close()
        while server_socket.id not in served.dialect.closed:
            await asyncio.sleep(0.01)
        assert served.engine.sessions == {}
        assert errors == []
