"""`/v2/rtc` sessions in-process (the dialect over a real store, sockets that record their frames): what a
Python or Node client cannot easily provoke: the per-user cap, ephemeral events never kept for a returning
client, the end of a session whose token expires."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from parley.api.auth import Authenticator
from parley.api.socket import v2
from parley.api.socket.engine import EngineSocket
from parley.api.socket.v2 import ClientSession, SocketSession, V2Dialect
from parley.domain.models import Event
from parley.domain.ports import Store
from parley.realtime.hub import Hub
from parley.realtime.sessions import SessionRegistry
from tests.conftest import Api


class Socket:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.engine = EngineSocket(4, self.frames.append)

    def events(self) -> list[tuple[str, dict[str, object]]]:
        return [tuple(json.loads(f[f.index("["):])) for f in self.frames if f.startswith("42")]  # type: ignore[misc]


@pytest.fixture
def dialect(store: Store) -> V2Dialect:
    return V2Dialect(Authenticator(store, key_cache_seconds=0), Hub(store), SessionRegistry())


async def open_session(dialect: V2Dialect, token: str, query: str = "") -> tuple[Socket, SocketSession]:
    socket = Socket()
    handler = await dialect.connected(socket.engine, {"token": token, "acknowledge_events": "true",
                                                      **dict(p.split("=") for p in query.split("&") if p)})
    await handler.message("0")
    return socket, handler


async def test_a_users_sessions_are_capped_and_idle_ones_give_way(
        api: Api, dialect: V2Dialect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2, "MAX_SESSIONS_PER_USER", 2)
    await api.user("alice")
    token = api.token("alice")
    first, first_handler = await open_session(dialect, token)
    second, _ = await open_session(dialect, token)
    assert [e[0] for e in first.events() + second.events()] == ["session:success", "session:success"]
    refused, _ = await open_session(dialect, token)
    assert refused.events()[0][0] == "session:error:max-open-sessions"
    assert refused.frames[-1] == "41"
    await first_handler.closed()  # its socket drops: the session waits for its client...
    third, _ = await open_session(dialect, token)  # ...and gives way to a new one
    assert third.events()[0][0] == "session:success"
    first_id = first.events()[0][1]["body"]["id"]  # type: ignore[index]
    assert dialect.sessions.get(api.application_id, str(first_id)) is None
    resumed, _ = await open_session(dialect, token, f"session_id={first_id}")  # too late to resume it
    assert resumed.events()[0][0] == "session:error:max-open-sessions"


async def test_ephemeral_events_are_never_kept_for_a_returning_client(api: Api, dialect: V2Dialect) -> None:
    await api.user("alice")
    socket, handler = await open_session(dialect, api.token("alice"))
    session = handler.session
    assert isinstance(session, ClientSession)
    typing = Event("CON-1", 0, "text:typing:on", "MEM-1", None, {"activity": 1}, "2026-01-01T00:00:00.000Z")
    text = Event("CON-1", 5, "text", "MEM-1", None, {"text": "hi"}, "2026-01-01T00:00:00.000Z")
    session.push(session.encoder(typing))
    session.push(session.encoder(text))
    assert socket.frames[-2].startswith('42["ephemeral",')  # no ack id
    assert socket.frames[-1].startswith('421["message",')
    await handler.closed()
    session.push(session.encoder(typing))  # while away
    again, _ = await open_session(dialect, api.token("alice"), f"session_id={session.id}")
    assert [name for name, _ in again.events()] == ["session:success", "message"]  # the unacknowledged text only


async def test_a_session_ends_when_its_token_expires_unless_refreshed(api: Api, dialect: V2Dialect) -> None:
    await api.user("alice")
    now = time.time()
    # the clock skew allowance (30 s) applies: a token that expired 29 s ago is valid for one more second
    short = api.token("alice", iat=int(now) - 60, exp=now - 29)
    socket, handler = await open_session(dialect, short)
    refreshed, refreshed_handler = await open_session(dialect, short)
    assert socket.events()[0][0] == refreshed.events()[0][0] == "session:success"
    session, other = handler.session, refreshed_handler.session
    assert isinstance(session, ClientSession) and isinstance(other, ClientSession)
    update = ["session:update-token", {"tid": "u", "body": {"token": api.token("alice")}}]
    await refreshed_handler.message("2" + json.dumps(update))
    assert refreshed.events()[-1] == ("session:update-token:success", {"rid": "u", "body": {}})
    async with asyncio.timeout(10):  # a bound against a hang, not a timing assertion
        while not session.ended:
            await asyncio.sleep(0.05)
    assert socket.events()[-1][0] == "system:error:expired-token"
    assert socket.frames[-1] == "41"
    assert dialect.sessions.get(api.application_id, session.id) is None
    assert not other.ended  # the refreshed one lives on
    assert dialect.sessions.get(api.application_id, other.id) is other


async def test_an_unexpected_failure_is_an_error_reply_and_the_socket_stays(
        api: Api, dialect: V2Dialect, monkeypatch: pytest.MonkeyPatch) -> None:
    await api.user("alice")
    socket, handler = await open_session(dialect, api.token("alice"))

    async def broken(*args: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(dialect, "update_token", broken)
    await handler.message('2["session:update-token",{"tid":"u","body":{"token":"x"}}]')
    assert socket.events()[-1] == ("system:error:internal-error", {
        "rid": "u", "type": "system:error:internal-error", "description": "Something went wrong."})
    await handler.message('2["session:logout",{"tid":"l"}]')  # still answering
    assert socket.events()[-1] == ("session:logged-out", {"rid": "l", "body": {}})
    monkeypatch.setattr(dialect, "login", broken)
    refused, _ = await open_session(dialect, api.token("alice"))
    assert refused.events()[0][0] == "system:error:invalid-token"
    assert refused.frames[-1] == "41"
