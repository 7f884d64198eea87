"""`/v1/conversations/{id}/events`: create, get, list (filters, ranges, envelopes), delete, receipts."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.conftest import (
    Api,
    assert_error,
)

BASE = "http://parley.test"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")



async def chat(api: Api, *names: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """A conversation with a joined member for each name (events 1..n are their member:joined)."""
    conversation = await api.conversation("chat")
    members = {}
    for name in names:
        await api.user(name)
        members[name] = await api.member(conversation["id"], name)
    return conversation["id"], members


async def ids(api: Api, cid: str, query: str = "", sub: str | None = None) -> list[int]:
    listed = await api.ok("GET", f"/v1/conversations/{cid}/events?page_size=100&{query}", sub=sub)
    return [e["id"] for e in listed["_embedded"]["events"]]


async def sequence_number(api: Api, cid: str) -> int:
    value: int = (await api.ok("GET", f"/v1/conversations/{cid}"))["sequence_number"]
    return value


async def test_create_and_get_message(api: Api) -> None:
    await api.user("alice", display_name="Alice", properties={"custom_data": {"tier": "gold"}})
    conversation = await api.conversation("chat")
    cid = conversation["id"]
    member = await api.member(cid, "alice")
    created = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, json={
        "type": "message", "from": member["id"], "body": {"message_type": "text", "text": "hello"}})
    assert created["id"] == 2
    assert created["type"] == "message"
    assert created["from"] == member["id"]
    assert created["body"] == {"message_type": "text", "text": "hello"}
    assert TIMESTAMP.match(created["timestamp"])
    assert created["_embedded"]["from_member"] == {"id": member["id"]}
    assert created["_embedded"]["from_user"] == {
        "id": member["_embedded"]["user"]["id"], "name": "alice", "display_name": "Alice",
        "custom_data": {"tier": "gold"}}
    assert created["_links"] == {"self": {"href": f"{BASE}/v1/conversations/{cid}/events/2"}}
    assert "deleted" not in created

    got = await api.ok("GET", f"/v1/conversations/{cid}/events/2")
    assert got == created
    assert await sequence_number(api, cid) == 2


async def test_user_token_sends_as_its_own_member(api: Api) -> None:
    cid, members = await chat(api, "alice")
    sent = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, sub="alice", json={
        "type": "message", "body": {"message_type": "text", "text": "no from"}})
    assert sent["from"] == members["alice"]["id"]
    assert sent["_embedded"]["from_user"]["name"] == "alice"


async def test_other_creatable_types(api: Api) -> None:
    cid, members = await chat(api, "alice")
    mid = members["alice"]["id"]
    cases: list[dict[str, Any]] = [
        {"type": "text", "body": {"text": "legacy"}},
        {"type": "custom:game-move", "body": {"x": 1, "y": [2, 3]}},
        {"type": "message", "body": {"message_type": "image", "image": {"url": "https://example.com/i.png"}}},
        {"type": "message", "body": {"message_type": "custom", "custom": {"any": "thing"}}},
        {"type": "audio:dtmf", "body": {"digit": "5"}},
    ]
    for number, case in enumerate(cases, start=2):
        created = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, json={**case, "from": mid})
        assert created["id"] == number
        assert created["type"] == case["type"]
        assert created["body"] == case["body"]
        got = await api.ok("GET", f"/v1/conversations/{cid}/events/{number}")
        assert got["body"] == case["body"]
    assert await sequence_number(api, cid) == 6


async def test_list_events_envelopes(api: Api) -> None:
    cid, members = await chat(api, "alice")
    await api.text(cid, members["alice"]["id"], "one")
    listed = await api.ok("GET", f"/v1/conversations/{cid}/events")
    assert listed["page_size"] == 10
    assert [(e["id"], e["type"]) for e in listed["_embedded"]["events"]] == [(1, "member:joined"), (2, "message")]
    assert listed["_embedded"]["events"][1]["body"] == {"message_type": "text", "text": "one"}
    assert listed["_links"]["first"]["href"].startswith(f"{BASE}/v1/conversations/{cid}/events?")
    assert "self" in listed["_links"]
    assert "next" not in listed["_links"]
    node = await api.ok("GET", f"/v1/conversations/{cid}/events",
                        headers={"User-Agent": "@vonage/server-sdk/3.0.0, node/20.0.0"})
    assert isinstance(node["_embedded"], list)
    assert [e["id"] for e in node["_embedded"]] == [1, 2]


async def test_delete_message(api: Api) -> None:
    cid, members = await chat(api, "alice")
    mid = members["alice"]["id"]
    await api.text(cid, mid, "oops")
    await api.text(cid, mid, "keep")
    deleted = await api.request("DELETE", f"/v1/conversations/{cid}/events/2")
    assert deleted.status_code == 204
    assert deleted.content == b""

    gone = await api.ok("GET", f"/v1/conversations/{cid}/events/2")
    assert gone["id"] == 2
    assert gone["type"] == "message"
    assert gone["body"] == {}
    assert TIMESTAMP.match(gone["deleted"])

    marker = await api.ok("GET", f"/v1/conversations/{cid}/events/4")
    assert marker["type"] == "event:delete"
    assert marker["body"] == {"event_id": 2}
    assert await sequence_number(api, cid) == 4

    assert await ids(api, cid) == [1, 2, 3, 4]
    assert await ids(api, cid, "exclude_deleted_events=true") == [1, 3, 4]
    assert await ids(api, cid, "exclude_deleted_events=false") == [1, 2, 3, 4]
    listed = (await api.ok("GET", f"/v1/conversations/{cid}/events"))["_embedded"]["events"]
    assert listed[1]["body"] == {}
    assert listed[2]["body"] == {"message_type": "text", "text": "keep"}

    again = await api.request("DELETE", f"/v1/conversations/{cid}/events/2")
    assert again.status_code == 204
    assert await sequence_number(api, cid) == 4


async def test_user_deletes_own_message(api: Api) -> None:
    cid, members = await chat(api, "alice")
    mid = members["alice"]["id"]
    await api.text(cid, mid, "mine", sub="alice")
    assert (await api.request("DELETE", f"/v1/conversations/{cid}/events/2", sub="alice")).status_code == 204
    marker = await api.ok("GET", f"/v1/conversations/{cid}/events/3")
    assert marker["type"] == "event:delete"
    assert marker["from"] == mid
    assert marker["body"] == {"event_id": 2}
    custom = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, sub="alice",
                          json={"type": "custom:note", "body": {"n": 1}})
    assert (await api.request("DELETE", f"/v1/conversations/{cid}/events/{custom['id']}", sub="alice")
            ).status_code == 204
    assert (await api.ok("GET", f"/v1/conversations/{cid}/events/{custom['id']}"))["body"] == {}


async def test_event_type_filter(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")  # 1, 2: member:joined
    alice = members["alice"]["id"]
    await api.text(cid, alice, "hi")  # 3
    await api.ok("POST", f"/v1/conversations/{cid}/events", 201,
                 json={"type": "custom:ping", "from": alice, "body": {}})  # 4
    await api.ok("POST", f"/v1/conversations/{cid}/events", 201,
                 json={"type": "message:seen", "from": members["bob"]["id"], "body": {"event_id": 3}})  # 5
    await api.ok("PATCH", f"/v1/conversations/{cid}/members/{members['bob']['id']}", json={"state": "left"})  # 6

    assert await ids(api, cid, "event_type=message") == [3]
    assert await ids(api, cid, "event_type=member:*") == [1, 2, 6]
    assert await ids(api, cid, "event_type=member:left") == [6]
    assert await ids(api, cid, "event_type=message,custom:ping") == [3, 4]
    assert await ids(api, cid, "event_type=message:*") == [5]
    assert await ids(api, cid, "event_type=member:joined,message,custom:ping,message:seen,member:left") == [
        1, 2, 3, 4, 5, 6]
    assert await ids(api, cid, "event_type=text") == []
    assert await ids(api, cid, "event_type=member:*&order=desc") == [6, 2, 1]


async def test_start_id_and_end_id(api: Api) -> None:
    cid, members = await chat(api, "alice")
    for text in ("a", "b", "c", "d"):
        await api.text(cid, members["alice"]["id"], text)  # 2..5
    assert await ids(api, cid, "start_id=2&end_id=4") == [2, 3, 4]
    assert await ids(api, cid, "start_id=4") == [4, 5]
    assert await ids(api, cid, "end_id=2") == [1, 2]
    assert await ids(api, cid, "start_id=2&end_id=4&order=desc") == [4, 3, 2]
    assert await ids(api, cid, "start_id=3&end_id=3") == [3]
    assert await ids(api, cid, "start_id=9") == []
    assert await ids(api, cid, "start_id=2&event_type=member:*") == []


async def test_receipts_are_stored_events(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")
    message = await api.text(cid, members["alice"]["id"], "read me")
    seen = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, sub="bob", json={
        "type": "message:seen", "from": members["bob"]["id"], "body": {"event_id": message["id"]}})
    assert seen["id"] == message["id"] + 1
    assert seen["type"] == "message:seen"
    assert seen["from"] == members["bob"]["id"]
    assert seen["body"] == {"event_id": message["id"]}
    delivered = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, sub="bob", json={
        "type": "message:delivered", "body": {"event_id": str(message["id"])}})
    assert delivered["id"] == seen["id"] + 1
    assert (await api.ok("GET", f"/v1/conversations/{cid}/events/{seen['id']}"))["body"] == {
        "event_id": message["id"]}
    assert await ids(api, cid, "event_type=message:seen,message:delivered") == [seen["id"], delivered["id"]]
    assert await sequence_number(api, cid) == delivered["id"]


async def test_ephemeral_events_are_not_stored(api: Api) -> None:
    cid, members = await chat(api, "alice")
    typing = await api.request("POST", f"/v1/conversations/{cid}/events", json={
        "type": "text:typing:on", "from": members["alice"]["id"], "body": {"activity": 1}})
    assert typing.status_code == 201, typing.text
    assert typing.json()["type"] == "text:typing:on"
    assert await ids(api, cid) == [1]
    assert await sequence_number(api, cid) == 1


async def test_idempotency_key_replays_the_original_event(api: Api) -> None:
    cid, members = await chat(api, "alice")
    body = {"type": "message", "from": members["alice"]["id"], "body": {"message_type": "text", "text": "once"}}
    first = await api.request("POST", f"/v1/conversations/{cid}/events", json=body,
                              headers={"Idempotency-Key": "k-1"})
    second = await api.request("POST", f"/v1/conversations/{cid}/events", json=body,
                               headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"] == 2
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert await ids(api, cid) == [1, 2]


async def test_left_member_reads_history_until_it_left(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")  # 1, 2
    await api.text(cid, members["bob"]["id"], "before")  # 3
    await api.ok("PATCH", f"/v1/conversations/{cid}/members/{members['alice']['id']}", sub="alice",
                 json={"state": "left"})  # 4
    await api.text(cid, members["bob"]["id"], "after")  # 5
    assert await ids(api, cid, sub="alice") == [1, 2, 3, 4]
    assert await ids(api, cid, sub="bob") == [1, 2, 3, 4, 5]
    assert (await api.ok("GET", f"/v1/conversations/{cid}/events/4", sub="alice"))["type"] == "member:left"
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/events/5", sub="alice"), 404,
                 "event:error:not-found")


async def test_concurrent_sends_get_consecutive_ids(api: Api) -> None:
    cid, _ = await chat(api, "alice", "bob")
    sends = [api.request("POST", f"/v1/conversations/{cid}/events", sub=name, json={
        "type": "message", "body": {"message_type": "text", "text": f"{name}{n}"}})
        for n in range(10) for name in ("alice", "bob")]
    responses = await asyncio.gather(*sends)
    assert [r.status_code for r in responses] == [201] * 20
    assert sorted(r.json()["id"] for r in responses) == list(range(3, 23))
    assert await ids(api, cid) == list(range(1, 23))
    assert await sequence_number(api, cid) == 22
    deletes = await asyncio.gather(*(api.request("DELETE", f"/v1/conversations/{cid}/events/3") for _ in range(5)))
    assert [r.status_code for r in deletes] == [204] * 5
    markers = await api.ok("GET", f"/v1/conversations/{cid}/events?event_type=event:delete")
    assert [e["body"] for e in markers["_embedded"]["events"]] == [{"event_id": 3}]
    assert await sequence_number(api, cid) == 23


async def test_system_events_and_addressed_events(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")
    system = await api.ok("POST", f"/v1/conversations/{cid}/events", 201,
                          json={"type": "custom:announcement", "body": {"text": "maintenance"}})
    assert "from" not in system
    assert "_embedded" not in system
    addressed = await api.ok("POST", f"/v1/conversations/{cid}/events", 201, json={
        "type": "audio:mute:on", "from": members["alice"]["id"], "to": members["bob"]["id"],
        "body": {"rtc_id": "r1"}})
    assert addressed["to"] == members["bob"]["id"]
    got = await api.ok("GET", f"/v1/conversations/{cid}/events/{addressed['id']}")
    assert got["to"] == members["bob"]["id"]
    assert got["from"] == members["alice"]["id"]
