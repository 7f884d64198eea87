"""`/v1/users`: create, get, update, delete, list, a user's conversations and sessions."""

from __future__ import annotations

import re

from tests.conftest import (
    Api,
    assert_error,
)

BASE = "http://parley.test"
USER_ID = re.compile(r"^USR-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GENERATED_NAME = re.compile(r"^NAM-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_get_update_delete_user(api: Api) -> None:
    created = await api.ok("POST", "/v1/users", 201, json={
        "name": "alice", "display_name": "Alice A", "image_url": "https://example.com/a.png",
        "properties": {"custom_data": {"team": "blue", "level": 3}},
        "channels": {"sms": [{"number": "447700900001"}]}})
    user_id = created["id"]
    assert USER_ID.match(user_id)
    assert created["name"] == "alice"
    assert created["display_name"] == "Alice A"
    assert created["image_url"] == "https://example.com/a.png"
    assert created["properties"] == {"custom_data": {"team": "blue", "level": 3}}
    assert created["channels"] == {"sms": [{"number": "447700900001"}]}
    assert TIMESTAMP.match(created["timestamp"]["created"])
    assert created["_links"] == {"self": {"href": f"{BASE}/v1/users/{user_id}"}}

    got = await api.ok("GET", f"/v1/users/{user_id}")
    assert got == created

    patched = await api.ok("PATCH", f"/v1/users/{user_id}", json={"display_name": "Alice B"})
    assert patched["id"] == user_id
    assert patched["name"] == "alice"
    assert patched["display_name"] == "Alice B"
    assert patched["image_url"] == "https://example.com/a.png"
    assert TIMESTAMP.match(patched["timestamp"]["updated"])
    got = await api.ok("GET", f"/v1/users/{user_id}")
    assert got["display_name"] == "Alice B"
    assert got["properties"] == {"custom_data": {"team": "blue", "level": 3}}

    renamed = await api.ok("PATCH", f"/v1/users/{user_id}", json={"name": "alice2"})
    assert renamed["name"] == "alice2"

    deleted = await api.request("DELETE", f"/v1/users/{user_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await api.request("GET", f"/v1/users/{user_id}"), 404, "user:error:not-found")
    assert_error(await api.request("DELETE", f"/v1/users/{user_id}"), 404, "user:error:not-found")
    assert_error(await api.request("PATCH", f"/v1/users/{user_id}", json={"display_name": "x"}), 404,
                 "user:error:not-found")
    listed = await api.ok("GET", "/v1/users")
    assert listed["_embedded"]["users"] == []


async def test_create_user_with_empty_body_generates_a_name(api: Api) -> None:
    response = await api.request("POST", "/v1/users")
    assert response.status_code == 201, response.text
    created = response.json()
    assert GENERATED_NAME.match(created["name"])
    assert created["properties"] == {"custom_data": {}}
    empty_object = await api.ok("POST", "/v1/users", 201, json={})
    assert GENERATED_NAME.match(empty_object["name"])
    assert empty_object["name"] != created["name"]


async def test_deleted_user_name_can_be_reused(api: Api) -> None:
    first = await api.user("alice")
    assert (await api.request("DELETE", f"/v1/users/{first['id']}")).status_code == 204
    second = await api.user("alice")
    assert second["id"] != first["id"]
    assert (await api.ok("GET", "/v1/users?name=alice"))["_embedded"]["users"][0]["id"] == second["id"]


async def test_list_users_shape_and_name_filter(api: Api) -> None:
    alice = await api.user("alice", display_name="Alice")
    bob = await api.user("bob")
    listed = await api.ok("GET", "/v1/users")
    assert listed["page_size"] == 10
    assert listed["_embedded"]["users"] == [
        {"id": alice["id"], "name": "alice", "display_name": "Alice",
         "_links": {"self": {"href": f"{BASE}/v1/users/{alice['id']}"}}},
        {"id": bob["id"], "name": "bob", "_links": {"self": {"href": f"{BASE}/v1/users/{bob['id']}"}}},
    ]
    links = listed["_links"]
    assert links["first"]["href"].startswith(f"{BASE}/v1/users?")
    assert links["self"]["href"].startswith(f"{BASE}/v1/users?")
    assert "next" not in links and "prev" not in links

    filtered = await api.ok("GET", "/v1/users?name=bob")
    assert [u["id"] for u in filtered["_embedded"]["users"]] == [bob["id"]]
    none = await api.ok("GET", "/v1/users?name=carol")
    assert none["_embedded"]["users"] == []

    descending = await api.ok("GET", "/v1/users?order=DESC&page_size=1")
    assert descending["page_size"] == 1
    assert [u["id"] for u in descending["_embedded"]["users"]] == [bob["id"]]

    # a filter value that needs quoting survives the round trip through the links
    odd = await api.user("zoë & co=1 🎉")
    by_odd_name = await api.ok("GET", "/v1/users", params={"name": "zoë & co=1 🎉"})
    assert [u["id"] for u in by_odd_name["_embedded"]["users"]] == [odd["id"]]
    again = await api.ok("GET", by_odd_name["_links"]["self"]["href"].removeprefix(BASE))
    assert [u["id"] for u in again["_embedded"]["users"]] == [odd["id"]]


async def test_user_may_update_itself_but_not_others(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    own = await api.ok("PATCH", f"/v1/users/{alice['id']}", sub="alice", json={"display_name": "Me"})
    assert own["display_name"] == "Me"
    assert_error(await api.request("PATCH", f"/v1/users/{bob['id']}", sub="alice", json={"display_name": "X"}),
                 403, "system:error:permission")
    assert "display_name" not in await api.ok("GET", f"/v1/users/{bob['id']}")


async def test_user_conversations(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("bob")
    first = await api.conversation("first")
    second = await api.conversation("second")
    await api.conversation("elsewhere")
    joined = await api.member(first["id"], "alice", "joined")
    invited = await api.member(second["id"], "alice", "invited")
    await api.member(first["id"], "bob", "joined")

    listed = await api.ok("GET", f"/v1/users/{alice['id']}/conversations")
    assert listed["page_size"] == 10
    items = listed["_embedded"]["conversations"]
    assert [c["id"] for c in items] == [first["id"], second["id"]]
    assert items[0]["name"] == "first"
    assert items[0]["state"] == "ACTIVE"
    assert items[0]["sequence_number"] == 2
    assert items[0]["_embedded"] == {"id": joined["id"], "state": "JOINED"}
    assert items[1]["_embedded"] == {"id": invited["id"], "state": "INVITED"}
    assert items[0]["_links"] == {"self": {"href": f"{BASE}/v1/conversations/{first['id']}"}}
    assert listed["_links"]["first"]["href"].startswith(f"{BASE}/v1/users/{alice['id']}/conversations?")

    only_invited = await api.ok("GET", f"/v1/users/{alice['id']}/conversations?state=INVITED")
    assert [c["id"] for c in only_invited["_embedded"]["conversations"]] == [second["id"]]
    only_joined = await api.ok("GET", f"/v1/users/{alice['id']}/conversations?state=joined")
    assert [c["id"] for c in only_joined["_embedded"]["conversations"]] == [first["id"]]

    as_alice = await api.ok("GET", f"/v1/users/{alice['id']}/conversations", sub="alice")
    assert [c["id"] for c in as_alice["_embedded"]["conversations"]] == [first["id"], second["id"]]


async def test_user_conversations_errors(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("bob")
    assert_error(await api.request("GET", f"/v1/users/{alice['id']}/conversations?state=gone"),
                 400, "user:error:invalid-state-lookup")
    assert_error(await api.request("GET", "/v1/users/USR-00000000-0000-0000-0000-000000000000/conversations"),
                 404, "user:error:not-found")
    assert_error(await api.request("GET", f"/v1/users/{alice['id']}/conversations", sub="bob"),
                 403, "system:error:permission")


async def test_user_sessions(api: Api) -> None:
    alice = await api.user("alice")
    sessions = await api.ok("GET", f"/v1/users/{alice['id']}/sessions")
    assert sessions["page_size"] == 10
    assert sessions["_embedded"] == {"sessions": []}
    assert sessions["_links"]["first"]["href"].startswith(f"{BASE}/v1/users/{alice['id']}/sessions?")
    assert "self" in sessions["_links"]
    assert "next" not in sessions["_links"]
    assert_error(await api.request("GET", "/v1/users/USR-00000000-0000-0000-0000-000000000000/sessions"),
                 404, "user:error:not-found")


async def test_deleting_a_user_ends_its_memberships(api: Api) -> None:
    alice = await api.user("alice")
    await api.user("bob")
    first = (await api.conversation("first"))["id"]
    second = (await api.conversation("second"))["id"]
    joined = await api.member(first, "alice")
    invited = await api.member(second, "alice", "invited")
    bob = await api.member(first, "bob")
    assert (await api.request("DELETE", f"/v1/users/{alice['id']}")).status_code == 204

    for cid, member, left_id in ((first, joined, 3), (second, invited, 2)):
        got = await api.ok("GET", f"/v1/conversations/{cid}/members/{member['id']}")
        assert got["state"] == "LEFT"
        assert got["_embedded"]["user"]["id"] == alice["id"]
        event = await api.ok("GET", f"/v1/conversations/{cid}/events/{left_id}")
        assert event["type"] == "member:left"
        assert event["body"]["member_id"] == member["id"]
        assert event["body"]["reason"]["code"] == "user:deleted"
        assert (await api.ok("GET", f"/v1/conversations/{cid}"))["sequence_number"] == left_id
    assert (await api.ok("GET", f"/v1/conversations/{first}/members/{bob['id']}"))["state"] == "JOINED"
    # the name is free again, and the new alice is a different user with no memberships
    again = await api.user("alice")
    assert again["id"] != alice["id"]
    assert (await api.ok("GET", f"/v1/users/{again['id']}/conversations"))["_embedded"]["conversations"] == []
    rejoined = await api.member(first, "alice")
    assert rejoined["_embedded"]["user"]["id"] == again["id"]
