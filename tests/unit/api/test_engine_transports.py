"""The Engine.IO transports (polling, websocket, the upgrade between them) for protocols 3 and 4, served by a real
uvicorn on loopback, with a dialect that echoes what it gets, so only the engine is under test.

Every test runs twice: with the websockets served by parley's own protocol below ASGI (`native.py`, what
`parley serve` runs) and through the ASGI application (what any other ASGI server runs)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from parley.api.cors import CORS, OriginPolicy, Origins
from parley.api.socket.engine import HOLD_AT, MAX_PAYLOAD_BYTES, Carrier, Engine, EngineConfig, EngineSocket
from parley.api.socket.engineio import RECORD_SEPARATOR, Packet, PacketType, decode_payload, encode_payload
from parley.api.socket.native import SOCKETS, Sockets, WebSocketProtocol
from parley.app import open_store
from parley.domain.models import Application
from parley.settings import Settings
from tests.unit.api.loopback import uvicorn_on_loopback


@dataclass
class Echo:
    """A dialect answering each message `m` with `echo:m`; it keeps its sockets so tests can push to them."""

    engine_version: int
    sockets: list[EngineSocket] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    async def connected(self, socket: EngineSocket, query: Mapping[str, str]) -> EchoHandler:
        self.sockets.append(socket)
        return EchoHandler(self, socket)


@dataclass
class EchoHandler:
    dialect: Echo
    socket: EngineSocket

    async def message(self, data: str) -> None:
        self.socket.send("echo:" + data)

    async def closed(self) -> None:
        self.dialect.closed.append(self.socket.id)


@dataclass
class Served:
    url: str
    engine: Engine
    dialect: Echo

    def ws_url(self, query: str) -> str:
        return self.url.replace("http://", "ws://") + "?" + query


STACK = "native"  # set by the `stack` fixture for each run


@pytest.fixture(autouse=True, params=["native", "asgi"])
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys.modules[__name__], "STACK", request.param)
    return str(request.param)


@contextlib.asynccontextmanager
async def serving(version: int, config: EngineConfig | None = None, origins: Origins | None = None,
                  policy: OriginPolicy | None = None) -> AsyncIterator[Served]:
    dialect = Echo(version)
    engine = Engine(dialect, config)
    checked = origins is not None or policy is not None
    policy = policy or OriginPolicy(origins or Origins(["*"]), ttl=0)
    middleware = [Middleware(CORS, policy=policy)] if checked else []
    routes = [Route("/e/", engine.http, methods=["GET", "POST"]), WebSocketRoute("/e/", engine.websocket)]
    sockets = Sockets({"/e/": engine}, policy)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Sockets]]:
        yield {SOCKETS: sockets} if STACK == "native" else {}

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    ws: Any = WebSocketProtocol if STACK == "native" else "websockets-sansio"
    async with uvicorn_on_loopback(app, lifespan="on", ws=ws, ws_max_size=MAX_PAYLOAD_BYTES) as (_, port):
        yield Served(f"http://127.0.0.1:{port}/e/", engine, dialect)


async def handshake(client: httpx.AsyncClient, served: Served, version: int) -> tuple[str, list[Packet]]:
    response = await client.get(served.url, params={"EIO": str(version), "transport": "polling", "t": "x"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=UTF-8"
    packets = decode_payload(response.text, version)
    assert packets[0].type is PacketType.OPEN
    opening = json.loads(packets[0].data)
    assert opening["upgrades"] == ["websocket"]
    return opening["sid"], packets[1:]


async def polled(served: Served, sid: str) -> None:
    """Until the server holds a poll of the session open."""
    polling = served.engine.sessions[sid].polling
    assert polling is not None
    while not polling.polled:
        await asyncio.sleep(0.005)


def params(version: int, sid: str) -> dict[str, str]:
    return {"EIO": str(version), "transport": "polling", "sid": sid}


async def poll(client: httpx.AsyncClient, served: Served, version: int, sid: str) -> list[Packet]:
    response = await client.get(served.url, params=params(version, sid))
    assert response.status_code == 200, response.text
    return decode_payload(response.text, version)


async def post(client: httpx.AsyncClient, served: Served, version: int, sid: str, packets: list[Packet]) -> None:
    response = await client.post(served.url, params=params(version, sid), content=encode_payload(packets, version))
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize("version", [3, 4])
async def test_messages_travel_both_ways_as_payloads(version: int) -> None:
    async with serving(version) as served, httpx.AsyncClient() as client:
        sid, rest = await handshake(client, served, version)
        assert rest == []
        emoji = "hi 👋 é"  # an astral character: two UTF-16 units in a protocol 3 length
        await post(client, served, version, sid, [Packet(PacketType.MESSAGE, "one"),
                                                  Packet(PacketType.MESSAGE, emoji)])
        response = await client.get(served.url, params=params(version, sid))
        if version == 3:
            assert response.text == f"9:4echo:one13:4echo:{emoji}"  # 👋 counts twice
        else:
            assert response.text == f"4echo:one{RECORD_SEPARATOR}4echo:{emoji}"


@pytest.mark.parametrize("version", [3, 4])
async def test_a_poll_waits_for_a_frame(version: int) -> None:
    async with serving(version) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, version)
        pending = asyncio.ensure_future(poll(client, served, version, sid))
        await polled(served, sid)
        await asyncio.sleep(0.01)
        assert not pending.done()
        served.dialect.sockets[0].send("late")
        assert await pending == [Packet(PacketType.MESSAGE, "late")]


async def test_protocol_3_client_pings_and_the_poll_gets_the_pong() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        await post(client, served, 3, sid, [Packet(PacketType.PING, "")])
        assert await poll(client, served, 3, sid) == [Packet(PacketType.PONG, "")]


async def test_protocol_4_server_pings_on_polling() -> None:
    config = EngineConfig(ping_interval_ms=50, ping_timeout_ms=5000)
    async with serving(4, config) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 4)
        assert await poll(client, served, 4, sid) == [Packet(PacketType.PING, "")]
        await post(client, served, 4, sid, [Packet(PacketType.PONG, "")])
        assert sid in served.engine.sessions


@pytest.mark.parametrize("version", [3, 4])
async def test_upgrade_loses_and_reorders_nothing(version: int) -> None:
    """Frames pushed all through the upgrade arrive once each, in order, partly by polls, then by the websocket."""
    async with serving(version) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, version)
        server_socket = served.dialect.sockets[0]
        total = 300
        done = asyncio.Event()

        async def produce() -> None:
            for n in range(total):
                server_socket.send(str(n))
                await asyncio.sleep(0)
            done.set()

        received: list[str] = []
        producer = asyncio.ensure_future(produce())
        received += [p.data for p in await poll(client, served, version, sid)]
        async with connect(served.ws_url(f"EIO={version}&transport=websocket&sid={sid}")) as ws:
            pending_poll = asyncio.ensure_future(poll(client, served, version, sid))
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            last_poll = await pending_poll  # answered at once once probed: frames, or a noop
            received += [p.data for p in last_poll if p.type is PacketType.MESSAGE]
            await ws.send("5")
            while len(received) < total:
                frame = str(await ws.recv())
                if frame.startswith("4"):
                    received.append(frame[1:])
            await done.wait()
            await producer
            assert received == [str(n) for n in range(total)]
            # the session is now on the websocket: requests and pushes go there, polling is refused
            await ws.send("4after")
            assert await ws.recv() == "4echo:after"
            refused = await client.get(served.url, params=params(version, sid))
            assert (refused.status_code, refused.json()) == (400, {"code": 3, "message": "Bad request"})


async def test_a_poll_pending_at_the_probe_is_answered_with_a_noop() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        pending = asyncio.ensure_future(poll(client, served, 3, sid))
        await polled(served, sid)
        async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")) as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            assert await pending == [Packet(PacketType.NOOP, "")]
            await ws.send("5")
            await ws.send("42")
            assert await ws.recv() == "4echo:2"


async def test_a_failed_probe_leaves_the_session_on_polling() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")) as ws:
            await ws.send("4not a probe")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        await post(client, served, 3, sid, [Packet(PacketType.MESSAGE, "still")])
        assert await poll(client, served, 3, sid) == [Packet(PacketType.MESSAGE, "echo:still")]


async def test_one_upgrade_at_a_time() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")) as ws:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(served.ws_url(f"EIO=3&transport=websocket&sid={sid}")):
                    pass
            assert json.loads(refused.value.response.body or b"") == {"code": 3, "message": "Bad request"}
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            await ws.send("5")
            await ws.send("4x")
            assert await ws.recv() == "4echo:x"


async def test_unknown_sessions_get_the_engine_io_error() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        for method in ("GET", "POST"):
            response = await client.request(method, served.url, params=params(3, "nope"), content=b"1:2")
            assert response.status_code == 400
            assert response.json() == {"code": 1, "message": "Session ID unknown"}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(served.ws_url("EIO=3&transport=websocket&sid=nope")):
                pass
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body or b"") == {"code": 1, "message": "Session ID unknown"}


async def test_bad_requests_get_engine_io_errors_and_the_session_survives_a_bad_payload() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        cases = [({"EIO": "3", "transport": "carrier-pigeon"}, "GET", 0),
                 ({"EIO": "4", "transport": "polling"}, "GET", 5),
                 ({"EIO": "3", "transport": "polling"}, "POST", 2),
                 ({"EIO": "3", "transport": "polling", "j": "0"}, "GET", 3)]
        for query, method, code in cases:
            response = await client.request(method, served.url, params=query)
            assert (response.status_code, response.json()["code"]) == (400, code), query
        sid, _ = await handshake(client, served, 3)
        for body in ("99:4short", "x:4", "4:4ab\U0001f44b"):  # too short, no length, a length splitting 👋
            response = await client.post(served.url, params=params(3, sid), content=body.encode())
            assert (response.status_code, response.json()["code"]) == (400, 3), body
        await post(client, served, 3, sid, [Packet(PacketType.MESSAGE, "fine")])
        assert await poll(client, served, 3, sid) == [Packet(PacketType.MESSAGE, "echo:fine")]


async def test_a_head_request_is_neither_a_poll_nor_a_post() -> None:
    """Starlette answers HEAD on a GET route; it carries no packet, so it must not count as the client's."""
    async with serving(3, EngineConfig(ping_interval_ms=60_000)) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        polling = served.engine.sessions[sid].polling
        assert polling is not None
        heard = polling.last_heard
        response = await client.head(served.url, params=params(3, sid))
        assert response.status_code == 400
        assert polling.last_heard == heard
        await post(client, served, 3, sid, [Packet(PacketType.MESSAGE, "still here")])
        assert await poll(client, served, 3, sid) == [Packet(PacketType.MESSAGE, "echo:still here")]


async def test_an_oversized_post_is_refused_and_ends_the_session() -> None:
    async with serving(4, EngineConfig(max_payload_bytes=1000)) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 4)
        response = await client.post(served.url, params=params(4, sid), content=b"4" + b"x" * 1000)
        assert response.status_code == 413
        assert response.json()["code"] == 3
        assert sid not in served.engine.sessions and served.dialect.closed == [sid]


async def test_a_second_concurrent_poll_ends_the_session() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        first = asyncio.ensure_future(poll(client, served, 3, sid))
        await polled(served, sid)
        second = await client.get(served.url, params=params(3, sid))
        assert second.status_code == 400
        assert await first == [Packet(PacketType.CLOSE, "")]  # the session closed: the pending poll says so
        assert served.dialect.closed == [sid]


@pytest.mark.parametrize("version", [3, 4])
async def test_a_silent_polling_client_is_closed_and_its_pending_poll_told(version: int) -> None:
    config = EngineConfig(ping_interval_ms=100, ping_timeout_ms=100)
    async with serving(version, config) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, version)
        packets = await poll(client, served, version, sid)
        while packets[-1].type is not PacketType.CLOSE:  # protocol 4 pings first; nobody answers
            assert packets == [Packet(PacketType.PING, "")]
            packets = await poll(client, served, version, sid)
        assert sid not in served.engine.sessions and served.dialect.closed == [sid]
        gone = await client.get(served.url, params=params(version, sid))
        assert gone.json() == {"code": 1, "message": "Session ID unknown"}


async def test_the_client_closing_a_polling_session() -> None:
    async with serving(3) as served, httpx.AsyncClient() as client:
        sid, _ = await handshake(client, served, 3)
        await post(client, served, 3, sid, [Packet(PacketType.CLOSE, "")])
        assert served.dialect.closed == [sid]


@pytest.mark.parametrize("version", [3, 4])
async def test_straight_websocket_sessions_need_their_version(version: int) -> None:
    async with serving(version) as served:
        async with connect(served.ws_url(f"EIO={version}&transport=websocket")) as ws:
            opening = str(await ws.recv())
            assert json.loads(opening[1:])["upgrades"] == []
            await ws.send("4hey")
            assert await ws.recv() == "4echo:hey"
        other = 4 if version == 3 else 3
        with pytest.raises(InvalidStatus) as refused:
            async with connect(served.ws_url(f"EIO={other}&transport=websocket")):
                pass
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body or b"")["code"] == 5


async def test_websocket_origins_are_checked() -> None:
    origins = Origins(["https://app.example"])
    async with serving(3, origins=origins) as served:
        async with connect(served.ws_url("EIO=3&transport=websocket"), origin="https://app.example") as ws:
            assert str(await ws.recv()).startswith("0{")
        async with connect(served.ws_url("EIO=3&transport=websocket")) as ws:  # no Origin: not a browser
            assert str(await ws.recv()).startswith("0{")
        own = served.url.removesuffix("/e/")
        async with connect(served.ws_url("EIO=3&transport=websocket"), origin=own) as ws:  # type: ignore[arg-type]
            assert str(await ws.recv()).startswith("0{")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(served.ws_url("EIO=3&transport=websocket"),
                               origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403


async def test_websocket_origins_of_applications_are_read_when_due(tmp_path: Path) -> None:
    """An origin only an application's list allows: the union of the lists is read from the store before the
    handshake is answered (`native.py` holds the handshake meanwhile)."""
    store = await open_store(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'parley.db'}"))
    try:
        application = Application(str(uuid.uuid4()), "web", "key", "t", ("https://web.example",))
        await store.insert_application(application)
        policy = OriginPolicy(Origins([]), ttl=0, store=store)  # re-read at every handshake
        async with serving(3, policy=policy) as served:
            async with connect(served.ws_url("EIO=3&transport=websocket"), origin=Origin("https://web.example")) as ws:
                assert str(await ws.recv()).startswith("0{")
                assert served.dialect.sockets[-1].origin == "https://web.example"
            for origin in ("https://evil.example", "https://web.example"):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(served.ws_url("EIO=3&transport=websocket"),
                                       origin=Origin(origin)):
                        pass
                assert refused.value.response.status_code == 403
                await store.set_application_origins(application.id, None)  # the web origin is refused next
    finally:
        await store.close()


async def test_a_socket_carries_its_handshake_origin_to_the_dialect() -> None:
    """The dialect checks a browser socket's origin against its token's application: the origin must reach it
    from the websocket handshake (native and ASGI) and from the polling one; the server's own origin does not."""
    async with serving(3, origins=Origins(["https://app.example"])) as served:
        async with connect(served.ws_url("EIO=3&transport=websocket"), origin=Origin("https://app.example")) as ws:
            assert str(await ws.recv()).startswith("0{")
            assert served.dialect.sockets[-1].origin == "https://app.example"
        own = served.url.removesuffix("/e/")
        async with connect(served.ws_url("EIO=3&transport=websocket"), origin=Origin(own)) as ws:
            assert str(await ws.recv()).startswith("0{")
            assert served.dialect.sockets[-1].origin is None
        async with httpx.AsyncClient() as client:
            response = await client.get(served.url, params={"EIO": "3", "transport": "polling"},
                                        headers={"Origin": "https://app.example"})
            assert response.status_code == 200
            assert served.dialect.sockets[-1].origin == "https://app.example"
            await client.get(served.url, params={"EIO": "3", "transport": "polling"})
            assert served.dialect.sockets[-1].origin is None


async def test_polling_answers_carry_cors_headers_for_credentialed_xhr() -> None:
    """engine.io-client 3.x polls with `withCredentials`: the answer must name the origin and allow credentials."""
    origins = Origins(["https://app.example"])
    async with serving(3, origins=origins) as served, httpx.AsyncClient() as client:
        response = await client.get(served.url, params={"EIO": "3", "transport": "polling"},
                                    headers={"Origin": "https://app.example"})
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["vary"] == "Origin"
        foreign = await client.get(served.url, params={"EIO": "3", "transport": "polling"},
                                   headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers
        assert foreign.headers["vary"] == "Origin"


def test_engine_config_defaults_match_the_handshake() -> None:
    assert EngineConfig().ping_interval_ms == 25_000
    assert decode_payload(encode_payload([Packet(PacketType.NOOP)], 3), 3) == [Packet(PacketType.NOOP)]


async def test_a_socket_whose_messages_wait_stops_reading_them() -> None:
    """A client sending faster than its messages are handled: the socket holds at most about HOLD_AT of them (both
    stacks; the ASGI one used to receive on and queue every one)."""
    async with serving(3) as served:
        gate = asyncio.Event()
        handled: list[str] = []

        async def slow(self: EchoHandler, data: str) -> None:
            await gate.wait()
            handled.append(data)
            self.socket.send("echo:" + data)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(EchoHandler, "message", slow)
            async with connect(served.ws_url("EIO=3&transport=websocket")) as ws:
                assert str(await ws.recv()).startswith("0{")
                for index in range(200):  # one at a time: what the server reads at once it handles
                    await ws.send(f"4m{index}")
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.2)
                carriers = [o for o in gc.get_objects() if type(o) is Carrier and o.engine is served.engine]
                waiting = [len(c._inbox or ()) for c in carriers]
                assert len(carriers) == 1 and HOLD_AT <= waiting[0] <= HOLD_AT + 1, waiting
                gate.set()
                answers = [await ws.recv() for _ in range(200)]
                assert answers == [f"4echo:m{index}" for index in range(200)]
