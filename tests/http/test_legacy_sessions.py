"""`/rtc` sessions in-process (the dialect over a real store, sockets that record their frames), for what a
client cannot provoke on purpose: a socket that closes while its login is being checked."""

from __future__ import annotations

import asyncio
import json

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
