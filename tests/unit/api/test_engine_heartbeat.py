"""The Engine.IO 4 heartbeat on a straight websocket (the server pings; a client that stops answering is closed),
with short intervals, over plain ASGI websocket messages and a dialect that echoes what it is given."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from parley.api.socket.engine import Engine, EngineConfig, EngineSocket

SHORT = EngineConfig(ping_interval_ms=30, ping_timeout_ms=60)


class Handler:
    def __init__(self, socket: EngineSocket) -> None:
        self.socket = socket
        self.was_closed = False

    async def message(self, data: str) -> None:
        self.socket.send(f"echo:{data}")

    async def closed(self) -> None:
        self.was_closed = True


class EchoDialect:
    def __init__(self, version: int = 4) -> None:
        self.engine_version = version
        self.handlers: list[Handler] = []

    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> Handler:
        handler = Handler(socket)
        self.handlers.append(handler)
        return handler


class Client:
    """The client end of one ASGI websocket served by `Engine.websocket`."""

    def __init__(self, dialect: EchoDialect, query: str) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        scope = {"type": "websocket", "path": "/v2/rtc/", "query_string": query.encode(), "headers": []}
        self.server = asyncio.ensure_future(Engine(dialect, SHORT).websocket(
            WebSocket(scope, self.incoming.get, self._sent)))

    async def _sent(self, message: dict[str, Any]) -> None:
        await self.outgoing.put(message)
        if message["type"] == "websocket.close":  # as an ASGI server does once the closing handshake is done
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    async def receive(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.outgoing.get(), 5)

    async def receive_text(self) -> str:
        message = await self.receive()
        assert message["type"] == "websocket.send", message
        return str(message["text"])

    def send(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})


async def test_the_server_pings_and_an_answering_client_stays() -> None:
    client = Client(EchoDialect(), "EIO=4&transport=websocket")
    assert (await client.receive())["type"] == "websocket.accept"
    opening = await client.receive_text()
    assert opening.startswith("0") and '"pingInterval":30' in opening and '"pingTimeout":60' in opening
    for _ in range(4):  # longer than the silence limit in all: each answered ping keeps the socket open
        assert await client.receive_text() == "2"
        client.send("3")
    client.send("4hello")  # and it still carries messages
    frame = await client.receive_text()
    while frame == "2":
        client.send("3")
        frame = await client.receive_text()
    assert frame == "4echo:hello"
    client.send("1")  # the client closes the session
    assert (await client.receive())["type"] == "websocket.close"
    await client.server


async def test_a_client_that_stops_answering_is_closed() -> None:
    dialect = EchoDialect()
    client = Client(dialect, "EIO=4&transport=websocket")
    await client.receive()  # accept
    await client.receive_text()  # open
    message = await client.receive()
    while message["type"] == "websocket.send":  # pings keep coming until the silence limit closes it
        assert message["text"] == "2"
        message = await client.receive()
    assert message == {"type": "websocket.close", "code": 1000, "reason": ""}
    await client.server
    assert dialect.handlers[0].was_closed


class FailingDialect(EchoDialect):
    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> Handler:
        raise RuntimeError("a dialect bug")


async def test_a_dialect_failing_to_open_a_session_closes_only_that_socket() -> None:
    client = Client(FailingDialect(), "EIO=4&transport=websocket")
    assert (await client.receive())["type"] == "websocket.accept"
    message = await client.receive()
    while message["type"] == "websocket.send":  # the open packet goes out before the dialect is asked
        message = await client.receive()
    assert message == {"type": "websocket.close", "code": 1000, "reason": ""}
    await asyncio.wait_for(client.server, 5)
