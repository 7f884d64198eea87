"""`/v1/conversations`: create, get, update (PUT), delete, list with date filters, user-token access."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from tests.conftest import (
    Api,
    assert_error,
)

BASE = "http://parley.test"
CONVERSATION_ID = re.compile(r"^CON-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GENERATED_NAME = re.compile(r"^NAM-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")



async def test_create_get_update_delete_conversation(api: Api) -> None:
    created = await api.ok("POST", "/v1/conversations", 201, json={
        "name": "support", "display_name": "Support", "image_url": "https://example.com/c.png",
        "properties": {"ttl": 60, "type": "quick_chat", "custom_sort_key": "CSK_1", "custom_data": {"k": "v"}}})
    conversation_id = created["id"]
    assert CONVERSATION_ID.match(conversation_id)
    assert created["name"] == "support"
    assert created["display_name"] == "Support"
    assert created["image_url"] == "https://example.com/c.png"
    assert created["state"] == "ACTIVE"
    assert created["sequence_number"] == 0
    assert created["properties"] == {"ttl": 60, "type": "quick_chat", "custom_sort_key": "CSK_1",
                                     "custom_data": {"k": "v"}}
    assert TIMESTAMP.match(created["timestamp"]["created"])
    assert created["_links"] == {"self": {"href": f"{BASE}/v1/conversations/{conversation_id}"}}

    got = await api.ok("GET", f"/v1/conversations/{conversation_id}")
    assert got == created

    updated = await api.ok("PUT", f"/v1/conversations/{conversation_id}", json={
        "display_name": "Help desk", "properties": {"custom_data": {"k": "w"}}})
    assert updated["id"] == conversation_id
    assert updated["name"] == "support"
    assert updated["display_name"] == "Help desk"
    assert updated["properties"] == {"ttl": 60, "type": "quick_chat", "custom_sort_key": "CSK_1",
                                     "custom_data": {"k": "w"}}
    assert TIMESTAMP.match(updated["timestamp"]["updated"])
    assert updated["sequence_number"] == 1
    got = await api.ok("GET", f"/v1/conversations/{conversation_id}")
    assert got["display_name"] == "Help desk"
    assert got["sequence_number"] == 1

    deleted = await api.request("DELETE", f"/v1/conversations/{conversation_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await api.request("GET", f"/v1/conversations/{conversation_id}"), 404,
                 "conversation:error:not-found")
    assert (await api.ok("GET", "/v1/conversations"))["_embedded"]["conversations"] == []
    again = await api.conversation("support")
    assert again["id"] != conversation_id


async def test_create_conversation_without_body(api: Api) -> None:
    response = await api.request("POST", "/v1/conversations")
    assert response.status_code == 201, response.text
    created = response.json()
    assert GENERATED_NAME.match(created["name"])
    assert created["state"] == "ACTIVE"
    assert created["sequence_number"] == 0
    assert (await api.ok("GET", f"/v1/conversations/{created['id']}"))["name"] == created["name"]


async def test_update_emits_conversation_updated_event(api: Api) -> None:
    conversation = await api.conversation("chat")
    await api.ok("PUT", f"/v1/conversations/{conversation['id']}", json={"name": "renamed"})
    events = (await api.ok("GET", f"/v1/conversations/{conversation['id']}/events"))["_embedded"]["events"]
    assert [(e["id"], e["type"]) for e in events] == [(1, "conversation:updated")]
    body = events[0]["body"]
    assert body["id"] == conversation["id"]
    assert body["name"] == "renamed"
    assert body["state"] == "ACTIVE"


async def test_list_conversations_shape(api: Api) -> None:
    first = await api.conversation("first", display_name="First")
    second = await api.conversation("second")
    listed = await api.ok("GET", "/v1/conversations")
    assert listed["page_size"] == 10
    items = listed["_embedded"]["conversations"]
    assert [c["id"] for c in items] == [first["id"], second["id"]]
    assert items[0] == {"id": first["id"], "name": "first", "display_name": "First",
                        "timestamp": {"created": first["timestamp"]["created"]},
                        "_links": {"self": {"href": f"{BASE}/v1/conversations/{first['id']}"}}}
    assert listed["_links"]["first"]["href"].startswith(f"{BASE}/v1/conversations?")
    assert listed["_links"]["self"]["href"].startswith(f"{BASE}/v1/conversations?")
    assert "next" not in listed["_links"]
    descending = await api.ok("GET", "/v1/conversations?order=desc")
    assert [c["id"] for c in descending["_embedded"]["conversations"]] == [second["id"], first["id"]]


async def test_list_conversations_date_filters(api: Api) -> None:
    conversation = await api.conversation("dated")

    async def ids(query: str) -> list[str]:
        listed = await api.ok("GET", f"/v1/conversations?{query}")
        return [c["id"] for c in listed["_embedded"]["conversations"]]

    assert await ids("date_start=2000-01-01T00:00:00.000Z") == [conversation["id"]]
    assert await ids("date_start=2999-01-01T00:00:00.000Z") == []
    assert await ids("date_end=2999-01-01T00:00:00.000Z") == [conversation["id"]]
    assert await ids("date_end=2000-01-01T00:00:00.000Z") == []
    assert await ids("date_start=2000-01-01T00:00:00.000Z&date_end=2999-01-01T00:00:00.000Z") == [
        conversation["id"]]
    assert await ids("date_start=2018-01-01%2010:00:00") == [conversation["id"]]
    # an offset is converted to UTC, and the bounds are inclusive to the millisecond
    created = datetime.fromisoformat(conversation["timestamp"]["created"].replace("Z", "+00:00"))
    plus5 = timezone(timedelta(hours=5))

    def at(moment: datetime) -> str:
        return quote(moment.astimezone(plus5).isoformat(timespec="milliseconds"), safe="")

    assert await ids(f"date_start={at(created)}&date_end={at(created)}") == [conversation["id"]]
    assert await ids(f"date_end={at(created - timedelta(milliseconds=1))}") == []
    assert await ids(f"date_start={at(created + timedelta(milliseconds=1))}") == []
    # the filters survive in the links
    listed = await api.ok("GET", "/v1/conversations?date_start=2999-01-01T00:00:00.000Z")
    assert "date_start=2999-01-01T00%3A00%3A00.000Z" in listed["_links"]["self"]["href"]


async def test_date_end_in_space_format_includes_the_same_day(api: Api) -> None:
    conversation = await api.conversation("dated")
    day = conversation["timestamp"]["created"][:10]
    listed = await api.ok("GET", f"/v1/conversations?date_end={day}%2023:59:59")
    assert [c["id"] for c in listed["_embedded"]["conversations"]] == [conversation["id"]]


async def test_invalid_date_filter_is_refused(api: Api) -> None:
    await api.conversation("dated")
    for name in ("date_start", "date_end"):
        body = assert_error(await api.request("GET", f"/v1/conversations?{name}=yesterday"), 400,
                            "http:error:validation-fail")
        assert body["invalid_parameters"][0]["name"] == name


async def test_user_token_lists_only_own_conversations(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    mine = await api.conversation("mine")
    await api.conversation("theirs")
    await api.member(mine["id"], "alice")
    listed = await api.ok("GET", "/v1/conversations", sub="alice")
    assert [c["id"] for c in listed["_embedded"]["conversations"]] == [mine["id"]]
    assert (await api.ok("GET", "/v1/conversations", sub="bob"))["_embedded"]["conversations"] == []
    got = await api.ok("GET", f"/v1/conversations/{mine['id']}", sub="alice")
    assert got["id"] == mine["id"]


async def test_user_tokens_update_as_joined_members_and_only_admins_delete(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    await api.user("carol")
    conversation = await api.conversation("chat")
    cid = conversation["id"]
    alice = await api.member(cid, "alice")
    await api.member(cid, "carol", "invited")

    updated = await api.ok("PUT", f"/v1/conversations/{cid}", sub="alice", json={"display_name": "By Alice"})
    assert updated["display_name"] == "By Alice"
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events?event_type=conversation:updated"))
    assert [e["from"] for e in events["_embedded"]["events"]] == [alice["id"]]

    assert_error(await api.request("PUT", f"/v1/conversations/{cid}", sub="carol", json={"display_name": "C"}),
                 403, "conversation:error:permission-denied")
    assert_error(await api.request("PUT", f"/v1/conversations/{cid}", sub="bob", json={"display_name": "B"}),
                 404, "conversation:error:not-found")
    assert_error(await api.request("DELETE", f"/v1/conversations/{cid}", sub="bob"), 404,
                 "conversation:error:not-found")
    assert_error(await api.request("DELETE", f"/v1/conversations/{cid}", sub="carol"), 403,
                 "conversation:error:permission-denied")
    got = await api.ok("GET", f"/v1/conversations/{cid}")
    assert got["display_name"] == "By Alice"
    assert got["sequence_number"] == 3

    # deleting is the admin's: any user may join a conversation whose id it knows
    assert_error(await api.request("DELETE", f"/v1/conversations/{cid}", sub="alice"), 403,
                 "conversation:error:permission-denied")
    assert (await api.request("DELETE", f"/v1/conversations/{cid}")).status_code == 204
    assert_error(await api.request("GET", f"/v1/conversations/{cid}"), 404, "conversation:error:not-found")
    assert_error(await api.request("DELETE", f"/v1/conversations/{cid}"), 404, "conversation:error:not-found")
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members"), 404, "conversation:error:not-found")
    assert (await api.ok("GET", "/v1/conversations", sub="alice"))["_embedded"]["conversations"] == []


async def test_custom_data_in_lists_only_when_asked_for(api: Api) -> None:
    alice = await api.user("alice")
    conversation = await api.conversation("chat", properties={"ttl": 60, "custom_data": {"secret": 1}})
    await api.member(conversation["id"], "alice")

    plain = (await api.ok("GET", "/v1/conversations"))["_embedded"]["conversations"][0]
    assert "properties" not in plain
    custom = (await api.ok("GET", "/v1/conversations?include_custom_data=true"))["_embedded"]["conversations"][0]
    assert custom["properties"] == {"custom_data": {"secret": 1}}

    path = f"/v1/users/{alice['id']}/conversations"
    plain = (await api.ok("GET", path))["_embedded"]["conversations"][0]
    assert plain["properties"] == {"ttl": 60}
    custom = (await api.ok("GET", f"{path}?include_custom_data=true"))["_embedded"]["conversations"][0]
    assert custom["properties"] == {"ttl": 60, "custom_data": {"secret": 1}}
    # the full resource always carries everything
    got = await api.ok("GET", f"/v1/conversations/{conversation['id']}")
    assert got["properties"] == {"ttl": 60, "custom_data": {"secret": 1}}


async def test_user_conversations_date_filters(api: Api) -> None:
    alice = await api.user("alice")
    conversation = await api.conversation("chat")
    await api.member(conversation["id"], "alice")
    path = f"/v1/users/{alice['id']}/conversations"

    async def ids(query: str) -> list[str]:
        return [c["id"] for c in (await api.ok("GET", f"{path}?{query}"))["_embedded"]["conversations"]]

    assert await ids("date_start=2000-01-01%2000:00:00") == [conversation["id"]]
    assert await ids("date_start=2999-01-01%2000:00:00") == []
    assert await ids("date_end=2000-01-01T00:00:00.000Z") == []
    assert await ids("date_end=2999-01-01T00:00:00.000Z") == [conversation["id"]]
    assert_error(await api.request("GET", f"{path}?date_end=soon"), 400, "http:error:validation-fail")
