"""parley's read-state extension: per-member horizons and exact unread counts, and the receipt maps behind
`state.seen_by` / `state.delivered_to`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from parley.app import build_app
from parley.domain.models import Application
from parley.domain.ports import Store
from parley.settings import Settings
from tests.conftest import Api, KeyPair, assert_error
from tests.http.test_events import chat


class SteppingClock:
    """Each reading a second after the last: what happened first has the earlier time stamp, never the same."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


@pytest.fixture
async def stepping_api(store: Store, settings: Settings, application: Application, keys: KeyPair
                       ) -> AsyncIterator[Api]:
    app = build_app(store, settings, SteppingClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        yield Api(client, keys, application.id)


async def read_state(api: Api, cid: str, who: str = "me", sub: str | None = None) -> dict[str, object]:
    result: dict[str, object] = await api.ok("GET", f"/v1/conversations/{cid}/members/{who}/read-state", sub=sub)
    return result


async def receipt(api: Api, cid: str, member_id: str, kind: str, event_id: int, sub: str) -> None:
    await api.ok("POST", f"/v1/conversations/{cid}/events", 201, sub=sub,
                 json={"type": kind, "from": member_id, "body": {"event_id": event_id}})


async def test_unread_counts_follow_the_seen_horizon(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")
    alice, bob = members["alice"]["id"], members["bob"]["id"]
    sent = [(await api.text(cid, alice, f"hello {i}", sub="alice"))["id"] for i in range(4)]
    await api.text(cid, bob, "bob's own", sub="bob")  # one's own messages are never unread
    state = await read_state(api, cid, sub="bob")
    # bob's horizons start at what was before his membership (alice's member:joined, event 1)
    assert state == {"member_id": bob, "seen_event_id": 1, "delivered_event_id": 1,
                     "last_event_id": sent[-1] + 1, "unread_count": 4}
    # seeing the third message counts as seeing everything before it
    await receipt(api, cid, bob, "message:seen", sent[2], "bob")
    assert (await read_state(api, cid, sub="bob"))["unread_count"] == 1
    await receipt(api, cid, bob, "message:seen", sent[0], "bob")  # an older receipt moves nothing back
    state = await read_state(api, cid, sub="bob")
    assert (state["seen_event_id"], state["delivered_event_id"], state["unread_count"]) == (sent[2], sent[2], 1)
    # a deleted message stops counting; the admin and other members may read a member's state
    await api.ok("DELETE", f"/v1/conversations/{cid}/events/{sent[3]}", 204, sub="alice")
    assert (await read_state(api, cid, bob))["unread_count"] == 0
    assert (await read_state(api, cid, bob, sub="alice"))["unread_count"] == 0
    assert (await read_state(api, cid, sub="alice"))["unread_count"] == 1  # bob's text


async def test_read_state_refusals_change_nothing(api: Api) -> None:
    cid, _ = await chat(api, "alice")
    await api.user("mallory")
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members/me/read-state", sub="mallory"),
                 404, "conversation:error:not-found")
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members/me/read-state"),
                 403, "user:error:invalid-user-token")
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members/MEM-nope/read-state"),
                 404, "conversation:error:member-not-found")
    assert_error(await api.request("POST", f"/v1/conversations/{cid}/members/me/read-state", sub="alice"),
                 405, "http:error:method-not-allowed")


async def test_a_reader_who_left_sees_no_state_past_its_leave(api: Api) -> None:
    """A member whose membership ended reads history up to its leave, and so others' horizons too: what they saw,
    and how much was said, after it left stays hidden."""
    cid, members = await chat(api, "alice", "bob", "erin")
    alice, bob = members["alice"]["id"], members["bob"]["id"]
    first = (await api.text(cid, alice, "before", sub="alice"))["id"]
    left = (await api.ok("PATCH", f"/v1/conversations/{cid}/members/me", sub="erin", json={"state": "left"}))
    after = [(await api.text(cid, alice, f"after {i}", sub="alice"))["id"] for i in range(2)]
    await receipt(api, cid, bob, "message:seen", after[0], "bob")
    leave_id = first + 1
    assert left["state"] == "LEFT"
    assert await read_state(api, cid, bob, sub="erin") == {
        "member_id": bob, "seen_event_id": leave_id, "delivered_event_id": leave_id, "last_event_id": leave_id,
        "unread_count": 0}
    assert await read_state(api, cid, alice, sub="erin") == {
        "member_id": alice, "seen_event_id": 0, "delivered_event_id": 0, "last_event_id": leave_id,
        "unread_count": 0}
    # those still in it see everything
    assert (await read_state(api, cid, bob, sub="alice"))["last_event_id"] == after[1] + 1


async def test_receipt_maps_stop_at_the_readers_leave(stepping_api: Api) -> None:
    api = stepping_api
    cid, members = await chat(api, "alice", "bob", "erin")
    alice, bob = members["alice"]["id"], members["bob"]["id"]
    text = (await api.text(cid, alice, "before", sub="alice"))["id"]
    await receipt(api, cid, bob, "message:delivered", text, "bob")
    await api.ok("PATCH", f"/v1/conversations/{cid}/members/me", sub="erin", json={"state": "left"})
    await receipt(api, cid, bob, "message:seen", text, "bob")  # after erin left

    async def state(family: str, sub: str) -> object:
        listed = await api.ok("GET", f"/{family}/conversations/{cid}/events?start_id={text}&end_id={text}", sub=sub)
        events = listed["_embedded"]["data"]["events"] if family == "beta2" else listed["_embedded"]["events"]
        return {k: set(v) for k, v in events[0]["state"].items()}

    for family in ("v0.3", "beta2"):
        assert await state(family, "erin") == {"seen_by": set(), "delivered_to": {bob}}
        assert await state(family, "alice") == {"seen_by": {bob}, "delivered_to": {bob}}


async def test_concurrent_sends_and_receipts_keep_horizons_maps_and_counts_exact(api: Api) -> None:
    """Sends and receipts racing in one conversation: the seen horizon is the highest receipt's, the count is
    what lies past it, and every receipt for a message is in its map exactly once."""
    cid, members = await chat(api, "alice", "bob")
    alice, bob = members["alice"]["id"], members["bob"]["id"]
    first = (await api.text(cid, alice, "first", sub="alice"))["id"]

    async def seen(offset: int) -> None:
        kind = "text:seen" if offset % 2 else "message:seen"
        response = await api.request("POST", f"/v1/conversations/{cid}/events", sub="bob",
                                     json={"type": kind, "from": bob, "body": {"event_id": first + offset}})
        assert response.status_code in (201, 404), response.text  # 404: that event did not exist yet

    await asyncio.gather(*(api.text(cid, alice, f"text {i}", sub="alice") for i in range(8)),
                         *(seen(offset) for offset in range(8)))
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events?page_size=100"))["_embedded"]["events"]
    texts = {e["id"] for e in events if e["type"] == "message"}
    receipts = [e["body"]["event_id"] for e in events if e["type"].endswith(":seen")]
    state = await read_state(api, cid, bob)
    assert state["seen_event_id"] == max(receipts)
    assert state["unread_count"] == len([t for t in texts if t > max(receipts)])
    listed = (await api.ok("GET", f"/v0.3/conversations/{cid}/events?page_size=100"))["_embedded"]["events"]
    seen_by = {e["id"]: e["state"]["seen_by"] for e in listed if e["type"] == "message"}
    assert {i for i, by in seen_by.items() if by} == set(receipts) & texts
    assert all(set(by) <= {bob} for by in seen_by.values())


async def test_joining_again_keeps_what_the_user_had_seen(api: Api) -> None:
    """A rejoin is a new member, but the same reader: what it saw before leaving stays seen."""
    cid, members = await chat(api, "alice", "erin")
    alice, erin = members["alice"]["id"], members["erin"]["id"]
    texts = [(await api.text(cid, alice, f"before {i}", sub="alice"))["id"] for i in range(3)]
    await receipt(api, cid, erin, "message:seen", texts[1], "erin")
    await api.ok("PATCH", f"/v1/conversations/{cid}/members/me", sub="erin", json={"state": "left"})
    after = (await api.text(cid, alice, "while away", sub="alice"))["id"]
    again = await api.member(cid, "erin", sub="erin")
    assert again["id"] != erin
    state = await read_state(api, cid, sub="erin")
    assert (state["member_id"], state["seen_event_id"], state["delivered_event_id"]) == (again["id"], texts[1],
                                                                                         texts[1])
    assert state["unread_count"] == 2  # texts[2] and the one sent while away
    assert after > texts[2]


async def test_what_was_said_before_a_first_membership_is_not_unread(api: Api) -> None:
    cid, members = await chat(api, "alice")
    for i in range(3):
        await api.text(cid, members["alice"]["id"], f"before {i}", sub="alice")
    await api.user("bob")
    bob = await api.member(cid, "bob")
    state = await read_state(api, cid, sub="bob")
    assert (state["member_id"], state["unread_count"]) == (bob["id"], 0)
    assert state["seen_event_id"] == state["last_event_id"] - 1  # everything before bob's own member:joined
    await api.text(cid, members["alice"]["id"], "after", sub="alice")
    assert (await read_state(api, cid, sub="bob"))["unread_count"] == 1
