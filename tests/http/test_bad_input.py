"""Refused requests: each asserts the status, the error `code` and the error body, and that nothing changed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import (
    Api,
    assert_error,
)


def assert_invalid(response: httpx.Response, *names: str) -> dict[str, Any]:
    """A 400 `http:error:validation-fail` naming `names` in `invalid_parameters`."""
    body = assert_error(response, 400, "http:error:validation-fail")
    parameters = body["invalid_parameters"]
    assert isinstance(parameters, list) and parameters
    for parameter in parameters:
        assert set(parameter) == {"name", "reason"}
        assert isinstance(parameter["name"], str) and isinstance(parameter["reason"], str) and parameter["reason"]
    assert [p["name"] for p in parameters] == list(names)
    return body


class World:
    """alice and bob joined, carol invited, dave a stranger; event 4 is alice's message "hi"."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.cid = ""

    async def build(self) -> World:
        for name in ("alice", "bob", "carol", "dave"):
            self.users[name] = await self.api.user(name)
        self.cid = (await self.api.conversation("chat", display_name="Chat", properties={"ttl": 60}))["id"]
        self.members["alice"] = await self.api.member(self.cid, "alice")
        self.members["bob"] = await self.api.member(self.cid, "bob")
        self.members["carol"] = await self.api.member(self.cid, "carol", "invited")
        await self.api.text(self.cid, self.members["alice"]["id"], "hi")
        return self

    @property
    def conv(self) -> str:
        return f"/v1/conversations/{self.cid}"

    def member(self, name: str) -> str:
        return f"{self.conv}/members/{self.members[name]['id']}"

    async def snapshot(self) -> dict[str, Any]:
        """Everything a refused request could have changed."""
        api = self.api
        users = [await api.ok("GET", f"/v1/users/{u['id']}") for u in
                 (await api.ok("GET", "/v1/users?page_size=100"))["_embedded"]["users"]]
        conversations = (await api.ok("GET", "/v1/conversations?page_size=100"))["_embedded"]["conversations"]
        conversation = await api.ok("GET", self.conv)
        members = [await api.ok("GET", f"{self.conv}/members/{m['id']}") for m in
                   (await api.ok("GET", f"{self.conv}/members?page_size=100"))["_embedded"]["members"]]
        events = (await api.ok("GET", f"{self.conv}/events?page_size=100"))["_embedded"]["events"]
        return {"users": users, "conversations": conversations, "conversation": conversation,
                "members": members, "events": events}


@pytest.fixture
async def world(api: Api) -> World:
    return await World(api).build()


async def test_world_snapshot_sees_changes(world: World) -> None:
    """The guard of every test below: a snapshot does notice a change."""
    before = await world.snapshot()
    assert before["conversation"]["sequence_number"] == 4
    assert [e["id"] for e in before["events"]] == [1, 2, 3, 4]
    await world.api.text(world.cid, world.members["alice"]["id"], "more")
    assert await world.snapshot() != before


async def test_malformed_json(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    headers = {"Content-Type": "application/json"}
    for method, path in (("POST", "/v1/users"), ("PATCH", f"/v1/users/{world.users['alice']['id']}"),
                         ("POST", "/v1/conversations"), ("PUT", world.conv),
                         ("POST", f"{world.conv}/members"), ("PATCH", world.member("carol")),
                         ("POST", f"{world.conv}/events")):
        for raw in (b'{"name": "x",', b"{'name': 'x'}", b"\xff\xfe", b"nul"):
            response = await api.request(method, path, content=raw, headers=headers)
            assert_error(response, 400, "http:error:invalid-json")
            assert "invalid_parameters" not in response.json()
    assert await world.snapshot() == before


async def test_body_that_is_not_an_object(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    for method, path in (("POST", "/v1/users"), ("PATCH", f"/v1/users/{world.users['alice']['id']}"),
                         ("POST", "/v1/conversations"), ("PUT", world.conv),
                         ("POST", f"{world.conv}/members"), ("PATCH", world.member("carol")),
                         ("POST", f"{world.conv}/events")):
        for raw in (b'[{"name": "x"}]', b'"alice"', b"42", b"null", b"true"):
            response = await api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
            assert_invalid(response, "body")
    assert await world.snapshot() == before


async def test_missing_body_where_one_is_required(world: World) -> None:
    before = await world.snapshot()
    for method, path in (("POST", f"{world.conv}/members"), ("PATCH", world.member("carol")),
                         ("POST", f"{world.conv}/events")):
        assert_invalid(await world.api.request(method, path), "body")
    assert await world.snapshot() == before


async def test_oversize_body(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    big = b'{"name": "' + b"a" * 300_000 + b'"}'
    text = b'{"type": "message", "from": "' + world.members["alice"]["id"].encode() + \
        b'", "body": {"message_type": "text", "text": "' + b"a" * 300_000 + b'"}}'
    for method, path, raw in (("POST", "/v1/users", big), ("POST", "/v1/conversations", big),
                              ("PUT", world.conv, big), ("POST", f"{world.conv}/events", text)):
        response = await api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        assert_error(response, 413, "http:error:request-too-large")

    async def chunks() -> Any:  # no Content-Length: the size is only known while reading
        for _ in range(30):
            yield b" " * 10_000
        yield b'{"name": "streamed"}'

    response = await api.request("POST", "/v1/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "http:error:request-too-large")
    assert await world.snapshot() == before


async def test_a_body_just_under_the_limit_is_accepted(api: Api) -> None:
    padding = " " * (262_144 - 100)
    raw = ('{"name": "padded"' + padding + "}").encode()
    assert len(raw) < 262_144
    response = await api.request("POST", "/v1/users", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "padded"


async def test_wrong_types_and_lengths(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    alice = world.users["alice"]["id"]
    mid = world.members["alice"]["id"]
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/v1/users", {"name": 42}, "name"),
        ("POST", "/v1/users", {"name": ["x"]}, "name"),
        ("POST", "/v1/users", {"name": "u", "display_name": "d" * 256}, "display_name"),
        ("POST", "/v1/users", {"name": "n" * 101}, "name"),
        ("POST", "/v1/users", {"name": ""}, "name"),
        ("POST", "/v1/users", {"name": "nul\u0000"}, "name"),
        ("POST", "/v1/users", {"name": "u", "image_url": 5}, "image_url"),
        ("POST", "/v1/users", {"name": "u", "properties": "x"}, "properties"),
        ("POST", "/v1/users", {"name": "u", "properties": {"custom_data": []}}, "properties.custom_data"),
        ("PATCH", f"/v1/users/{alice}", {"display_name": 7}, "display_name"),
        ("PATCH", f"/v1/users/{alice}", {"name": None}, "name"),
        ("POST", "/v1/conversations", {"name": 42}, "name"),
        ("POST", "/v1/conversations", {"name": ""}, "name"),
        ("POST", "/v1/conversations", {"name": "c", "display_name": "d" * 51}, "display_name"),
        ("POST", "/v1/conversations", {"name": "c", "properties": {"ttl": "abc"}}, "properties.ttl"),
        ("POST", "/v1/conversations", {"name": "c", "properties": {"ttl": -1}}, "properties.ttl"),
        ("POST", "/v1/conversations", {"name": "c", "properties": {"ttl": 1.5}}, "properties.ttl"),
        ("POST", "/v1/conversations", {"name": "c", "callback": {"method": "DELETE"}}, "callback.method"),
        ("PUT", world.conv, {"display_name": "d" * 51}, "display_name"),
        ("PUT", world.conv, {"properties": {"ttl": "abc"}}, "properties.ttl"),
        ("POST", f"{world.conv}/members", {"state": 1, "user": {"name": "dave"}, "channel": {"type": "app"}},
         "state"),
        ("POST", f"{world.conv}/members", {"state": "joined", "user": {"name": 5}, "channel": {"type": "app"}},
         "user.name"),
        ("PATCH", world.member("carol"), {"state": "invited"}, "state"),
        ("PATCH", world.member("alice"), {"state": "joined", "reason": {"code": "x"}}, "reason"),
        ("POST", f"{world.conv}/events", {"type": "message", "from": mid, "body": "hi"}, "body"),
        ("POST", f"{world.conv}/events", {"type": 5, "from": mid, "body": {}}, "type"),
        ("POST", f"{world.conv}/events", {"from": mid, "body": {}}, "type"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": mid, "body": {"message_type": "text", "text": "t" * 32_769}}, "body.text"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": mid, "body": {"message_type": "text", "text": 5}}, "body.text"),
        ("POST", f"{world.conv}/events", {"type": "message", "from": mid, "body": {"message_type": "text"}},
         "body.text"),
        ("POST", f"{world.conv}/events", {"type": "message", "from": mid, "body": {"text": "no type"}},
         "body.message_type"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": mid, "body": {"message_type": "image", "image": {}}}, "body.image.url"),
        ("POST", f"{world.conv}/events", {"type": "text", "from": mid, "body": {}}, "body.text"),
        ("POST", f"{world.conv}/events", {"type": "text", "from": mid, "body": {"text": ""}}, "body.text"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": mid, "body": {"message_type": "text", "text": ""}}, "body.text"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": mid, "body": {"message_type": "text", "text": "a\u0000b"}}, "body.text"),
        ("POST", f"{world.conv}/events", {"type": "message:seen", "from": mid, "body": {}}, "body.event_id"),
        ("POST", f"{world.conv}/events", {"type": "message:seen", "from": mid, "body": {"event_id": "x"}},
         "body.event_id"),
        ("POST", f"{world.conv}/events", {"type": "custom:big", "from": mid, "body": {"x": "y" * 5_000}}, "body"),
        ("POST", f"{world.conv}/events",
         {"type": "message", "from": 5, "body": {"message_type": "text", "text": "x"}}, "from"),
    ]
    for method, path, body, name in cases:
        response = await api.request(method, path, json=body)
        assert response.status_code == 400, (method, path, body, response.text)
        assert_invalid(response, name)
    assert await world.snapshot() == before


async def test_text_at_the_limit_is_accepted(world: World) -> None:
    sent = await world.api.text(world.cid, world.members["alice"]["id"], "t" * 32_768)
    assert len(sent["body"]["text"]) == 32_768


async def test_unknown_fields_are_ignored(world: World) -> None:
    api = world.api
    user = await api.ok("POST", "/v1/users", 201, json={
        "name": "erin", "id": "USR-00000000-0000-0000-0000-000000000000", "link": "x", "favourite": {"a": 1}})
    assert user["id"] != "USR-00000000-0000-0000-0000-000000000000"
    assert "favourite" not in user and "link" not in user
    patched = await api.ok("PATCH", f"/v1/users/{user['id']}", json={
        "id": user["id"], "_links": user["_links"], "display_name": "Erin", "unknown": True})
    assert patched["display_name"] == "Erin"
    conversation = await api.ok("POST", "/v1/conversations", 201, json={
        "name": "extra", "numbers": [{"type": "phone", "number": "447700900000"}], "colour": "red",
        "callback": {"url": "https://example.com/cb", "params": {"applicationId": "a"}}})
    assert conversation["name"] == "extra"
    assert "colour" not in conversation
    member = await api.ok("POST", f"/v1/conversations/{conversation['id']}/members", 201, json={
        "state": "JOINED", "user": {"name": "erin"}, "channel": {"type": "app"}, "member_id_inviting": "MEM-9",
        "from": "MEM-1", "whatever": 1})
    assert member["state"] == "JOINED"
    event = await api.ok("POST", f"/v1/conversations/{conversation['id']}/events", 201, json={
        "type": "message", "from": member["id"], "cid": conversation["id"], "junk": [1],
        "body": {"message_type": "text", "text": "x"}})
    assert event["id"] == 2
    assert "junk" not in event


async def test_invalid_user_names(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    for name in ("me", "USR-x", "USR-00000000-0000-0000-0000-000000000000"):
        assert_error(await api.request("POST", "/v1/users", json={"name": name}), 400,
                     "user:error:invalid-user-name")
        assert_error(await api.request("PATCH", f"/v1/users/{world.users['alice']['id']}", json={"name": name}),
                     400, "user:error:invalid-user-name")
    assert await world.snapshot() == before


async def test_duplicate_names(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    assert_error(await api.request("POST", "/v1/users", json={"name": "alice"}), 409, "user:error:duplicate-name")
    assert_error(await api.request("PATCH", f"/v1/users/{world.users['bob']['id']}", json={"name": "alice"}),
                 409, "user:error:duplicate-name")
    assert_error(await api.request("POST", "/v1/conversations", json={"name": "chat"}), 409,
                 "conversation:error:duplicate-name")
    other = await api.conversation("other")
    after_other = await world.snapshot()
    assert_error(await api.request("PUT", f"/v1/conversations/{other['id']}", json={"name": "chat"}), 409,
                 "conversation:error:duplicate-name")
    got = await api.ok("GET", f"/v1/conversations/{other['id']}")
    assert got["name"] == "other"
    assert got["sequence_number"] == 0
    assert await world.snapshot() == after_other
    assert [c for c in after_other["conversations"] if c["id"] != other["id"]] == before["conversations"]


async def test_unknown_ids(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    no_user = "/v1/users/USR-00000000-0000-0000-0000-000000000000"
    no_conv = "/v1/conversations/CON-00000000-0000-0000-0000-000000000000"
    no_member = f"{world.conv}/members/MEM-00000000-0000-0000-0000-000000000000"
    mid = world.members["alice"]["id"]
    message = {"type": "message", "from": mid, "body": {"message_type": "text", "text": "x"}}
    join = {"state": "joined", "user": {"name": "dave"}, "channel": {"type": "app"}}
    cases: list[tuple[str, str, Any, str]] = [
        ("GET", no_user, None, "user:error:not-found"),
        ("PATCH", no_user, {"display_name": "x"}, "user:error:not-found"),
        ("DELETE", no_user, None, "user:error:not-found"),
        ("GET", f"{no_user}/conversations", None, "user:error:not-found"),
        ("GET", "/v1/users/alice", None, "user:error:not-found"),
        ("GET", no_conv, None, "conversation:error:not-found"),
        ("PUT", no_conv, {"display_name": "x"}, "conversation:error:not-found"),
        ("DELETE", no_conv, None, "conversation:error:not-found"),
        ("GET", f"{no_conv}/members", None, "conversation:error:not-found"),
        ("POST", f"{no_conv}/members", join, "conversation:error:not-found"),
        ("GET", f"{no_conv}/members/{mid}", None, "conversation:error:not-found"),
        ("GET", f"{no_conv}/events", None, "conversation:error:not-found"),
        ("POST", f"{no_conv}/events", message, "conversation:error:not-found"),
        ("GET", f"{no_conv}/events/1", None, "conversation:error:not-found"),
        ("DELETE", f"{no_conv}/events/4", None, "conversation:error:not-found"),
        ("GET", no_member, None, "conversation:error:member-not-found"),
        ("PATCH", no_member, {"state": "left"}, "conversation:error:member-not-found"),
        ("POST", f"{world.conv}/members", {**join, "user": {"name": "zed"}}, "user:error:not-found"),
        ("POST", f"{world.conv}/members",
         {**join, "user": {"id": "USR-00000000-0000-0000-0000-000000000000"}}, "user:error:not-found"),
        ("POST", f"{world.conv}/members", {**join, "user": {"id": world.users["dave"]["id"], "name": "alice"}},
         "user:error:not-found"),
        ("POST", f"{world.conv}/events", {**message, "from": "MEM-00000000-0000-0000-0000-000000000000"},
         "conversation:error:member-not-found"),
        ("POST", f"{world.conv}/events", {**message, "to": "MEM-00000000-0000-0000-0000-000000000000"},
         "conversation:error:member-not-found"),
        ("GET", f"{world.conv}/events/99", None, "event:error:not-found"),
        ("DELETE", f"{world.conv}/events/99", None, "event:error:not-found"),
    ]
    for method, path, body, code in cases:
        response = await api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert_error(response, 404, code)
    assert await world.snapshot() == before


async def test_a_member_of_another_conversation_is_not_found(world: World) -> None:
    api = world.api
    other = await api.conversation("other")
    before = await world.snapshot()
    path = f"/v1/conversations/{other['id']}/members/{world.members['alice']['id']}"
    assert_error(await api.request("GET", path), 404, "conversation:error:member-not-found")
    assert_error(await api.request("PATCH", path, json={"state": "left"}), 404, "conversation:error:member-not-found")
    response = await api.request("POST", f"/v1/conversations/{other['id']}/events", json={
        "type": "message", "from": world.members["alice"]["id"], "body": {"message_type": "text", "text": "x"}})
    assert_error(response, 404, "conversation:error:member-not-found")
    assert (await api.ok("GET", f"/v1/conversations/{other['id']}"))["sequence_number"] == 0
    assert await world.snapshot() == before


async def test_bad_event_ids_in_the_path(world: World) -> None:
    before = await world.snapshot()
    for raw in ("abc", "0", "-1", "1.5", "99999999999999999999", "%D9%A3"):
        for method in ("GET", "DELETE"):
            response = await world.api.request(method, f"{world.conv}/events/{raw}")
            assert_invalid(response, "event_id")
    assert await world.snapshot() == before


async def test_member_create_invalid(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    path = f"{world.conv}/members"
    base = {"state": "joined", "user": {"name": "dave"}, "channel": {"type": "app"}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"state": "joined", "user": {"name": "dave"}}, "channel"),
        ({**base, "channel": {}}, "channel.type"),
        ({**base, "channel": {"type": 5}}, "channel.type"),
        ({**base, "channel": {"type": "carrier-pigeon"}}, "channel.type"),
        ({**base, "channel": "app"}, "channel"),
        ({**base, "user": {"name": 5}}, "user.name"),
        ({**base, "user": {"id": 5}}, "user.id"),
        ({"state": "joined", "channel": {"type": "app"}}, "user"),
        ({**base, "user": {}}, "user"),
        ({**base, "user": "dave"}, "user"),
        ({**base, "state": "left"}, "state"),
        ({**base, "state": "LEFT"}, "state"),
        ({**base, "state": "unknown"}, "state"),
        ({"user": {"name": "dave"}, "channel": {"type": "app"}}, "state"),
    ]
    for body, name in cases:
        assert_invalid(await api.request("POST", path, json=body), name)
    assert await world.snapshot() == before


async def test_illegal_member_transitions(world: World) -> None:
    api = world.api
    await api.ok("PATCH", world.member("bob"), json={"state": "left"})
    before = await world.snapshot()
    assert_error(await api.request("PATCH", world.member("bob"), json={"state": "joined"}), 400,
                 "conversation:error:invalid-member-state")
    assert_error(await api.request("PATCH", world.member("bob"), json={"state": "LEFT"}), 400,
                 "conversation:error:invalid-member-state")
    assert_error(await api.request("PATCH", world.member("alice"), json={"state": "joined"}), 400,
                 "conversation:error:member-already-joined")
    assert_error(await api.request("PATCH", world.member("alice"), sub="alice", json={"state": "JOINED"}), 400,
                 "conversation:error:member-already-joined")
    assert await world.snapshot() == before


async def test_joining_or_inviting_twice(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    path = f"{world.conv}/members"
    for state in ("joined", "invited"):
        response = await api.request("POST", path, json={"state": state, "user": {"name": "alice"},
                                                         "channel": {"type": "app"}})
        assert_error(response, 400, "conversation:error:member-already-joined")
    response = await api.request("POST", path, sub="alice", json={"state": "joined", "user": {"name": "alice"},
                                                                  "channel": {"type": "app"}})
    assert_error(response, 400, "conversation:error:member-already-joined")
    response = await api.request("POST", path, json={"state": "invited", "user": {"name": "carol"},
                                                     "channel": {"type": "app"}})
    assert_error(response, 400, "conversation:error:member-already-invited")
    assert await world.snapshot() == before


async def test_events_from_members_that_are_not_joined(world: World) -> None:
    api = world.api
    await api.ok("PATCH", world.member("bob"), json={"state": "left"})
    before = await world.snapshot()
    for name in ("carol", "bob"):
        response = await api.request("POST", f"{world.conv}/events", json={
            "type": "message", "from": world.members[name]["id"], "body": {"message_type": "text", "text": "x"}})
        assert_error(response, 403, "event:error:not-joined")
        response = await api.request("POST", f"{world.conv}/events", sub=name, json={
            "type": "message", "body": {"message_type": "text", "text": "x"}})
        assert_error(response, 403, "event:error:not-joined")
    assert await world.snapshot() == before


async def test_event_from_another_users_member(world: World) -> None:
    before = await world.snapshot()
    response = await world.api.request("POST", f"{world.conv}/events", sub="alice", json={
        "type": "message", "from": world.members["bob"]["id"], "body": {"message_type": "text", "text": "x"}})
    assert_error(response, 403, "event:error:permission-denied")
    assert await world.snapshot() == before


async def test_uncreatable_event_types(world: World) -> None:
    before = await world.snapshot()
    mid = world.members["alice"]["id"]
    for event_type in ("member:joined", "member:invited", "member:left", "conversation:updated", "event:delete",
                       "rtc:answer", "nonsense", "custom:", "custom:bad name"):
        response = await world.api.request("POST", f"{world.conv}/events", json={
            "type": event_type, "from": mid, "body": {}})
        assert_error(response, 400, "event:error:unknown-event")
    assert await world.snapshot() == before


async def test_deletes_that_are_not_allowed(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    for event_id in (1, 2, 3):  # member:joined, member:joined, member:invited
        assert_error(await api.request("DELETE", f"{world.conv}/events/{event_id}"), 403,
                     "event:error:delete-not-allowed")
    assert_error(await api.request("DELETE", f"{world.conv}/events/4", sub="bob"), 403,
                 "event:error:delete-not-allowed")
    assert_error(await api.request("DELETE", f"{world.conv}/events/1", sub="alice"), 403,
                 "event:error:delete-not-allowed")
    assert await world.snapshot() == before
    assert before["events"][3]["body"] == {"message_type": "text", "text": "hi"}


async def test_stranger_user_token_sees_no_conversation(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    message = {"type": "message", "body": {"message_type": "text", "text": "x"}}
    for method, path, body in (
        ("GET", world.conv, None),
        ("GET", f"{world.conv}/events", None),
        ("GET", f"{world.conv}/events/4", None),
        ("DELETE", f"{world.conv}/events/4", None),
        ("GET", f"{world.conv}/members", None),
        ("GET", world.member("alice"), None),
        ("GET", f"{world.conv}/members/me", None),
        ("PUT", world.conv, {"display_name": "x"}),
        ("DELETE", world.conv, None),
    ):
        response = await api.request(method, path, sub="dave", json=body)
        assert_error(response, 404, "conversation:error:not-found")
    response = await api.request("POST", f"{world.conv}/events", sub="dave", json=message)
    assert response.status_code in (403, 404), response.text
    assert await world.snapshot() == before
    assert (await api.ok("GET", "/v1/conversations", sub="dave"))["_embedded"]["conversations"] == []


async def test_user_token_may_not_create_or_delete_users(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    assert_error(await api.request("POST", "/v1/users", sub="alice", json={"name": "mallory"}), 403,
                 "system:error:permission")
    for name in ("alice", "bob"):
        assert_error(await api.request("DELETE", f"/v1/users/{world.users[name]['id']}", sub="alice"), 403,
                     "system:error:permission")
    assert await world.snapshot() == before


async def test_invalid_paging_parameters(world: World) -> None:
    api = world.api
    lists = ("/v1/users", "/v1/conversations", f"{world.conv}/members", f"{world.conv}/events",
             f"/v1/users/{world.users['alice']['id']}/conversations")
    for path in lists:
        for cursor in ("!!!", "abc", "eyJwIjoxfQ", "bm90IGpzb24", "W10"):
            assert_error(await api.request("GET", f"{path}?cursor={cursor}"), 400,
                         "paginator-builder:error:invalid-cursor")
        for size in ("0", "101", "x", "-1", "1.5"):
            assert_invalid(await api.request("GET", f"{path}?page_size={size}"), "page_size")
        assert_invalid(await api.request("GET", f"{path}?order=sideways"), "order")
    events = f"{world.conv}/events"
    six = "message,text,image,custom:a,member:*,message:seen"
    assert_error(await api.request("GET", f"{events}?event_type={six}"), 400, "event:error:invalid-filter-group")
    assert_error(await api.request("GET", f"{events}?event_type=bad%20type"), 400, "event:error:invalid-filter-group")
    assert_invalid(await api.request("GET", f"{events}?start_id=abc"), "start_id")
    assert_invalid(await api.request("GET", f"{events}?end_id=0"), "end_id")
    assert_invalid(await api.request("GET", f"{events}?exclude_deleted_events=maybe"), "exclude_deleted_events")


async def test_a_cursor_beyond_its_limits_is_refused(world: World) -> None:
    import base64
    import json

    def cursor(state: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")

    good = {"p": 1, "b": 0, "s": 10, "o": "asc", "f": {}}
    assert (await world.api.request("GET", f"/v1/users?cursor={cursor(good)}")).status_code == 200
    for bad in ({**good, "s": 1000}, {**good, "s": 0}, {**good, "o": "up"}, {**good, "p": "1"},
                {**good, "b": 2}, {**good, "f": []}, {**good, "f": {"name": 1}}, {**good, "p": 2**64}):
        assert_error(await world.api.request("GET", f"/v1/users?cursor={cursor(bad)}"), 400,
                     "paginator-builder:error:invalid-cursor")


async def test_unknown_route_and_wrong_method(world: World) -> None:
    before = await world.snapshot()
    api = world.api
    for path in ("/v1/nothing", "/v2/users", "/v1/users/x/y/z", "/", "/v1/conversations/a%20b"):
        assert_error(await api.request("GET", path), 404, "http:error:not-found")
    for method, path in (("PUT", "/v1/users"), ("DELETE", "/v1/users"), ("PATCH", "/v1/conversations"),
                         ("PATCH", world.conv), ("POST", world.conv), ("DELETE", f"{world.conv}/members"),
                         ("PUT", world.member("alice")), ("DELETE", world.member("alice")),
                         ("PUT", f"{world.conv}/events/4"), ("POST", f"/v1/users/{world.users['alice']['id']}")):
        response = await api.request(method, path, json={})
        assert_error(response, 405, "http:error:method-not-allowed")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert "GET" in allowed and method not in allowed, (method, path, allowed)
    allow = (await api.request("PUT", "/v1/users")).headers["allow"]
    assert {m.strip() for m in allow.split(",")} >= {"GET", "POST"}
    allow = (await api.request("PUT", world.member("alice"))).headers["allow"]
    assert {m.strip() for m in allow.split(",")} >= {"GET", "PATCH"}
    assert await world.snapshot() == before


async def test_error_bodies_only_carry_invalid_parameters_for_validation(world: World) -> None:
    api = world.api
    not_found = assert_error(await api.request("GET", "/v1/users/USR-00000000-0000-0000-0000-000000000000"), 404,
                             "user:error:not-found")
    assert set(not_found) == {"type", "title", "code", "detail", "instance"}
    assert not_found["title"] == "Not found."
    conflict = assert_error(await api.request("POST", "/v1/users", json={"name": "alice"}), 409,
                            "user:error:duplicate-name")
    assert conflict["title"] == "Conflict."
    invalid = assert_invalid(await api.request("POST", "/v1/users", json={"name": 1}), "name")
    assert invalid["title"] == "Bad request."
    assert invalid["invalid_parameters"] == [{"name": "name", "reason": '"name" must be a string'}]
    first = (await api.request("GET", "/v1/users/USR-00000000-0000-0000-0000-000000000000")).json()["instance"]
    assert first != not_found["instance"]


async def test_concurrent_duplicates_are_conflicts_not_errors(world: World) -> None:
    api = world.api
    users = await asyncio.gather(*(api.request("POST", "/v1/users", json={"name": "twin"}) for _ in range(5)))
    assert sorted(r.status_code for r in users) == [201, 409, 409, 409, 409]
    for response in users:
        if response.status_code == 409:
            assert_error(response, 409, "user:error:duplicate-name")
    conversations = await asyncio.gather(*(api.request("POST", "/v1/conversations", json={"name": "twin"})
                                           for _ in range(5)))
    assert sorted(r.status_code for r in conversations) == [201, 409, 409, 409, 409]
    joins = await asyncio.gather(*(api.request("POST", f"{world.conv}/members", json={
        "state": "joined", "user": {"name": "dave"}, "channel": {"type": "app"}}) for _ in range(5)))
    assert sorted(r.status_code for r in joins) == [201, 400, 400, 400, 400]
    for response in joins:
        if response.status_code == 400:
            assert_error(response, 400, "conversation:error:member-already-joined")
    listed = await api.ok("GET", f"{world.conv}/members")
    assert [m["_embedded"]["user"]["name"] for m in listed["_embedded"]["members"]].count("dave") == 1
    assert (await api.ok("GET", world.conv))["sequence_number"] == 5


async def test_a_cursor_carrying_a_nul_filter_is_refused(world: World) -> None:
    import base64
    import json

    state = {"p": None, "b": 0, "s": 10, "o": "asc", "f": {"name": "a\u0000b"}}
    cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    response = await world.api.request("GET", f"/v1/users?cursor={cursor}")
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("paginator-builder:error:invalid-cursor", "http:error:validation-fail")


async def test_nul_in_a_member_user_lookup(world: World, request: pytest.FixtureRequest) -> None:
    before = await world.snapshot()
    for user in ({"name": "al\u0000ice"}, {"id": "USR-\u0000"}):
        response = await world.api.request("POST", f"{world.conv}/members", json={
            "state": "joined", "user": user, "channel": {"type": "app"}})
        assert (response.status_code, response.json()["code"]) in (
            (400, "http:error:validation-fail"), (404, "user:error:not-found")), response.text
    assert await world.snapshot() == before


async def test_nul_in_client_ref(world: World, request: pytest.FixtureRequest) -> None:
    body = {"type": "message", "from": world.members["alice"]["id"], "client_ref": "ref\u0000",
            "body": {"message_type": "text", "text": "x"}}
    first = await world.api.request("POST", f"{world.conv}/events", json=body)
    if first.status_code == 400:
        assert_invalid(first, "client_ref")
        return
    assert first.status_code == 201, first.text
    again = await world.api.request("POST", f"{world.conv}/events", json=body)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"] == 5
