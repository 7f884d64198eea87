"""`/rtc` sessions in-process (the dialect over a real store, sockets that record their frames), for what a
client cannot provoke on purpose: a socket that closes while its login is being checked."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from parley.api.auth import Authenticator
from parley.api.inapp import Services
from parley.api.socket.engine import EngineSocket
from parley.api.socket.legacy import LegacyDialect
from parley.app import services
from parley.domain.clock import SystemClock
from parley.domain.ports import Store
from parley.realtime.hub import Hub
from parley.settings import Settings
from tests.conftest import Api


def legacy_dialect(store: Store, settings: Settings, hub: Hub) -> LegacyDialect:
    svc = services(store, settings, SystemClock(), hub)
    return LegacyDialect(Authenticator(store, key_cache_seconds=0),
                         Services(svc.conversations, svc.members, svc.events, svc.users, svc.push), hub)


async def test_a_socket_closed_while_its_login_is_checked_is_never_routed_to(
        api: Api, store: Store, settings: Settings) -> None:
    """On polling the engine closes a session (a second poll, a silent client) while a POST's request is still
    being handled: a login finishing after that must not leave the dead socket in the hub until its token
    expires."""
    alice = await api.user("alice")
    hub = Hub(store)
    dialect = legacy_dialect(store, settings, hub)
    frames: list[str] = []
    socket = EngineSocket(3, frames.append)
    handler = await dialect.connected(socket, {})
    login = json.dumps(["session:login", {"tid": "1", "body": {"token": api.token("alice")}}])
    request = asyncio.ensure_future(handler.message("2" + login))
    socket.closing = True  # what Engine.close does, then it tells the handler
    await handler.closed()
    await request
    assert hub._by_user.get((api.application_id, alice["id"])) is None


async def test_a_request_failing_in_the_store_gets_an_error_reply(api: Api, store: Store, settings: Settings) -> None:
    """Not only the API's own errors: a database locked by another process (the SQLite busy timeout) must not
    break the socket either (it escaped the dialect: the websocket dropped, a polling POST got a 500)."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL locks rows, not the database")
    await api.user("alice")
    conversation = await api.conversation("chat")
    await api.member(conversation["id"], "alice")
    hub = Hub(store)
    dialect = legacy_dialect(store, settings, hub)
    frames: list[str] = []
    handler = await dialect.connected(EngineSocket(3, frames.append), {})
    await handler.message("2" + json.dumps(["session:login", {"tid": "1", "body": {"token": api.token("alice")}}]))
    holder = sqlite3.connect(settings.sqlite_path(), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        await handler.message("2" + json.dumps(["text", {"tid": "2", "cid": conversation["id"],
                                                        "body": {"text": "blocked"}}]))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    name, reply = json.loads(frames[-1][2:])
    assert (name, reply) == ("system:error:internal-error", {
        "rid": "2", "type": "system:error:internal-error", "description": "Something went wrong."})
    await handler.message("2" + json.dumps(["text", {"tid": "3", "cid": conversation["id"], "body": {"text": "ok"}}]))
    assert json.loads(frames[-1][2:])[0] == "text:success"  # the socket goes on


async def test_push_subscribe_is_checked_against_the_acl_for_the_conversation_it_acts_on(
        api: Api, store: Store, settings: Settings) -> None:
    """`push:subscribe` names its conversation in `body.cid` (the Android SDK) or `cid`: the ACL check must look
    at the one acted on."""
    await api.user("alice")
    allowed, other = (await api.conversation("allowed"))["id"], (await api.conversation("other"))["id"]
    for cid in (allowed, other):
        await api.member(cid, "alice")
    acl = {"paths": {"/*/sessions/**": {}, f"/*/push/{allowed}": {}}}
    dialect = legacy_dialect(store, settings, Hub(store))
    frames: list[str] = []
    handler = await dialect.connected(EngineSocket(3, frames.append), {})
    await handler.message("2" + json.dumps(["session:login", {"tid": "1", "body": {"token": api.token("alice",
                                                                                                       acl=acl)}}]))
    assert json.loads(frames[-1][2:])[0] == "session:success"
    await handler.message("2" + json.dumps(["push:subscribe", {"tid": "2", "cid": allowed, "body": {"cid": other}}]))
    assert json.loads(frames[-1][2:])[0] == "system:error:permission"
    await handler.message("2" + json.dumps(["push:subscribe", {"tid": "3", "body": {"cid": allowed}}]))
    assert json.loads(frames[-1][2:]) == ["push:subscribe:success", {"rid": "3", "body": {"cid": allowed}}]


async def test_ids_with_nul_are_refused_as_invalid(api: Api, store: Store, settings: Settings) -> None:
    """PostgreSQL refuses NUL in text: an id (or a tid, stored as the idempotency key) carrying one reached it and
    failed as an internal error."""
    await api.user("alice")
    conversation = (await api.conversation("chat"))["id"]
    await api.member(conversation, "alice")
    dialect = legacy_dialect(store, settings, Hub(store))
    frames: list[str] = []
    handler = await dialect.connected(EngineSocket(3, frames.append), {})
    await handler.message("2" + json.dumps(["session:login", {"tid": "1", "body": {"token": api.token("alice")}}]))
    cases = [("text", {"cid": "CON-\x00", "body": {"text": "x"}}),
             ("conversation:get", {"cid": "\x00"}),
             ("conversation:join", {"cid": conversation, "body": {"member_id": "MEM-\x00"}}),
             ("user:get", {"body": {"user_id": "\x00"}}),
             ("push:subscribe", {"body": {"cid": "\x00"}}),
             ("text", {"cid": conversation, "body": {"text": "x"}, "tid": "\x00"}),
             ("text", {"cid": conversation, "body": {"text": "x"}, "tid": "t" * 201})]  # longer than REST's keys
    for n, (name, request) in enumerate(cases):
        request = {"tid": str(n), **request}
        await handler.message("2" + json.dumps([name, request]))
        reply_name, reply = json.loads(frames[-1][2:])
        assert (reply_name, reply["rid"]) == ("http:error:validation-fail", request["tid"]), (name, reply)
