"""The hub's cached audience (who gets a conversation's events) stays exact as members come and go, on SQLite
and PostgreSQL: the REST API drives the real services and store, the hub records what each user's socket got."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from parley.app import build_app
from parley.domain.models import Application, Event
from parley.domain.paging import Scan
from parley.domain.ports import Store
from parley.realtime.hub import HOLD_BACK_S, Hub
from parley.settings import Settings
from tests.conftest import Api, KeyPair
from tests.hub_doubles import RecordingSocket


def describe(event: Event) -> str:
    text = event.body.get("text")
    return f"{event.type} {text}" if text else event.type


class CountingStore:
    """The real store, counting the member scans the hub makes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.member_scans = 0

    async def members(self, application_id: str, conversation_id: str, scan: Scan) -> Sequence[Any]:
        self.member_scans += 1
        return await self._store.members(application_id, conversation_id, scan)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class Wired:
    api: Api
    hub: Hub
    store: CountingStore
    other: Api  # the same database through another process's services and hub, which this hub never hears of

    async def socket(self, name: str) -> tuple[RecordingSocket, str]:
        user = await self.api.user(name)
        socket = RecordingSocket(self.api.application_id, user["id"], encoder=describe)
        self.hub.attach(socket)
        return socket, user["id"]


@pytest.fixture
async def wired(store: Store, settings: Settings, application: Application, keys: KeyPair
                ) -> AsyncIterator[Wired]:
    counting = CountingStore(store)
    hub = Hub(counting)  # type: ignore[arg-type]
    app = build_app(store, settings, sink=hub)
    other = build_app(store, settings, sink=Hub(store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://parley.test") as client2:
        yield Wired(Api(client, keys, application.id), hub, counting, Api(client2, keys, application.id))


async def chat(w: Wired) -> tuple[str, str, RecordingSocket]:
    """A conversation with alice joined (and connected)."""
    alice, _ = await w.socket("alice")
    cid = (await w.api.conversation("chat"))["id"]
    member = await w.api.member(cid, "alice")
    assert alice.take() == ["member:joined"]
    return cid, member["id"], alice


async def test_a_user_who_joins_after_the_first_text_gets_the_second(wired: Wired) -> None:
    cid, alice_member, alice = await chat(wired)
    bob, _ = await wired.socket("bob")
    await wired.api.text(cid, alice_member, "one")
    await wired.api.member(cid, "bob")
    await wired.api.text(cid, alice_member, "two")
    assert bob.take() == ["member:joined", "message two"]
    assert alice.take() == ["message one", "member:joined", "message two"]
    assert wired.store.member_scans == 1  # read once, then kept up to date from the member events


async def test_a_kicked_member_gets_its_member_left_and_no_more_texts(wired: Wired) -> None:
    cid, alice_member, alice = await chat(wired)
    bob, _ = await wired.socket("bob")
    bob_member = (await wired.api.member(cid, "bob"))["id"]
    await wired.api.text(cid, alice_member, "one")
    await wired.api.ok("PATCH", f"/v1/conversations/{cid}/members/{bob_member}", json={"state": "left"})
    await wired.api.text(cid, alice_member, "two")
    assert bob.take() == ["member:joined", "message one", "member:left"]
    assert alice.take() == ["member:joined", "message one", "member:left", "message two"]
    await wired.api.member(cid, "bob")  # back, as a new member
    await wired.api.text(cid, alice_member, "three")
    assert bob.take() == ["member:joined", "message three"]


async def test_an_invitee_gets_member_invited_but_no_texts_until_it_joins(wired: Wired) -> None:
    cid, alice_member, alice = await chat(wired)
    carol, _ = await wired.socket("carol")
    invited = await wired.api.member(cid, "carol", state="invited")
    await wired.api.text(cid, alice_member, "one")
    assert carol.take() == ["member:invited"]
    await wired.api.ok("PATCH", f"/v1/conversations/{cid}/members/{invited['id']}", json={"state": "joined"})
    await wired.api.text(cid, alice_member, "two")
    assert carol.take() == ["member:joined", "message two"]
    assert alice.take() == ["member:invited", "message one", "member:joined", "message two"]


async def test_membership_changes_this_hub_never_saw_are_read_from_the_store(wired: Wired) -> None:
    cid, alice_member, alice = await chat(wired)
    dave, _ = await wired.socket("dave")
    await wired.api.text(cid, alice_member, "one")
    dave_member = (await wired.other.member(cid, "dave"))["id"]  # through the other process
    await wired.api.text(cid, alice_member, "two")
    # after a gap in a busy conversation the hub waits a moment for the missing events before going on
    await asyncio.sleep(HOLD_BACK_S * 2)
    assert dave.take() == ["message two"]
    await wired.other.ok("PATCH", f"/v1/conversations/{cid}/members/{dave_member}", json={"state": "left"})
    await wired.api.text(cid, alice_member, "three")
    await asyncio.sleep(HOLD_BACK_S * 2)
    assert dave.take() == []
    assert alice.take() == ["message one", "message two", "message three"]


async def test_ephemeral_events_reach_the_joined_members(wired: Wired) -> None:
    cid, alice_member, alice = await chat(wired)
    erin, _ = await wired.socket("erin")
    await wired.api.member(cid, "erin")
    await wired.api.ok("POST", f"/v1/conversations/{cid}/events", 201,
                       json={"type": "text:typing:on", "from": alice_member, "body": {}})
    assert erin.take() == ["member:joined", "text:typing:on"]
    assert alice.take() == ["member:joined", "text:typing:on"]
