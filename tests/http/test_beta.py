"""The `/beta` (= `/v0.1`) and `/beta2` (= `/v0.2`) REST families of nexmo-client 6.x-9.x: the shapes the
client reads, and refusals in the API's error format that change nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Api, assert_error
from tests.http.test_bad_input import World, assert_invalid
from tests.http.test_openapi import Conformance


@pytest.fixture
async def world(api: Api) -> World:
    return await World(api).build()


def cursor_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["cursor"][0]


@pytest.mark.parametrize("family", ["/beta", "/v0.1"])
async def test_create_and_get_conversation(api: Api, family: str) -> None:
    await api.user("alice")
    created = await api.ok("POST", f"{family}/conversations", 201, sub="alice",
                           json={"name": "chat", "display_name": "Chat", "originating_session": "SES-1"})
    cid = created["id"]
    assert created == {"id": cid, "href": f"http://parley.test{family}/conversations/{cid}"}
    await api.member(cid, "alice")
    got = await api.ok("GET", f"{family}/conversations/{cid}", sub="alice")
    assert got["uuid"] == cid and "id" not in got
    assert (got["name"], got["display_name"], got["sequence_number"]) == ("chat", "Chat", 1)
    [member] = got["members"]
    assert member["member_id"] == member["id"]
    assert (member["name"], member["state"], set(member["timestamp"])) == ("alice", "JOINED", {"joined"})
    assert got["_links"]["self"]["href"] == created["href"]


async def test_events_posted_like_nexmo_client_9(world: World) -> None:
    api, alice, carol = world.api, world.members["alice"]["id"], world.members["carol"]["id"]
    base = f"/beta/conversations/{world.cid}/events"
    text = await api.ok("POST", base, 201, sub="alice", json={
        "type": "text", "cid": world.cid, "from": alice, "body": {"text": "hello"}, "originating_session": "S"})
    assert text["id"] == 5 and text["href"].endswith(f"/beta/conversations/{world.cid}/events/5")
    typing = await api.ok("POST", base, 201, sub="alice", json={"type": "text:typing:on", "from": alice,
                                                           "body": {"activity": 1}})
    assert set(typing) == {"timestamp"}  # never stored, so no id
    seen = await api.ok("POST", base, 201, sub="bob", json={"type": "text:seen", "from": world.members["bob"]["id"],
                                                       "body": {"event_id": 5}})
    custom = await api.ok("POST", base, 201, sub="alice", json={"type": "custom:poll", "from": alice,
                                                           "body": {"q": "?"}})
    assert (seen["id"], custom["id"]) == (6, 7)
    listed = await api.ok("GET", f"/v1/conversations/{world.cid}/events?start_id=5")
    assert [(e["id"], e["type"]) for e in listed["_embedded"]["events"]] == [
        (5, "text"), (6, "text:seen"), (7, "custom:poll")]
    # /beta2 lists the text with its receipt map (what the client's text.seen() checks)
    [text_event] = (await api.ok("GET", f"/beta2/conversations/{world.cid}/events?start_id=5&end_id=5",
                                 sub="alice"))["_embedded"]["data"]["events"]
    assert text_event["state"] == {"seen_by": {world.members["bob"]["id"]: seen["timestamp"]}, "delivered_to": {}}
    # an image as nexmo-client posts it once its upload is done: the representations the upload answered
    representations = {"original": {"url": "http://ips.test/1", "type": "ORIGINAL", "size": 3}}
    image = await api.ok("POST", base, 201, sub="alice", json={"type": "image", "from": alice,
                                                                "body": {"representations": representations}})
    [shown] = (await api.ok("GET", f"/beta2/conversations/{world.cid}/events?start_id={image['id']}",
                            sub="bob"))["_embedded"]["data"]["events"]
    assert (shown["type"], shown["body"], shown["state"]) == (
        "image", {"representations": representations}, {"seen_by": {}, "delivered_to": {}})
    # the invited carol may not send
    refused = await api.request("POST", base, sub="carol", json={"type": "text", "from": carol,
                                                                 "body": {"text": "x"}})
    assert_error(refused, 403, "event:error:not-joined")


async def test_beta2_events_pages_and_gap_fetch(world: World) -> None:
    api = world.api
    for n in range(5):
        await api.text(world.cid, world.members["alice"]["id"], f"m{n}")
    url = f"/beta2/conversations/{world.cid}/events"
    first = await api.ok("GET", f"{url}?page_size=3&order=asc", sub="bob")
    assert first["page_size"] == 3
    events = first["_embedded"]["data"]["events"]
    assert [e["id"] for e in events] == [1, 2, 3]
    joined = events[0]
    assert joined["type"] == "member:joined" and joined["cid"] == world.cid
    assert joined["from"] == world.members["alice"]["id"]  # the member the event is about
    assert first["_links"]["next"]["href"].startswith(f"http://parley.test{url}?")
    second = await api.ok("GET", f"{url}?cursor={cursor_of(first['_links']['next']['href'])}", sub="bob")
    assert [e["id"] for e in second["_embedded"]["data"]["events"]] == [4, 5, 6]
    # the ordering queue's gap fetch: start_id and end_id only
    gap = await api.ok("GET", f"{url}?start_id=6&end_id=7", sub="bob")
    # under their In-App Messaging names: a v1 text `message` is a `text` here
    assert [(e["id"], e["type"], e["body"]) for e in gap["_embedded"]["data"]["events"]] == [
        (6, "text", {"text": "m1"}), (7, "text", {"text": "m2"})]
    typed = await api.ok("GET", f"{url}?event_type=member:invited", sub="bob")
    assert [e["id"] for e in typed["_embedded"]["data"]["events"]] == [3]
    same = await api.ok("GET", f"/v0.2/conversations/{world.cid}/events?page_size=3", sub="bob")
    assert same["_embedded"]["data"]["events"] == events


async def test_beta2_user_conversations_and_members(world: World) -> None:
    api = world.api
    for n in range(2):
        cid = (await api.conversation(f"more{n}"))["id"]
        await api.member(cid, "carol", "invited")
    carol = world.users["carol"]["id"]
    url = f"/beta2/users/{carol}/conversations"
    first = await api.ok("GET", f"{url}?page_size=2&order=asc", sub="carol")
    items = first["_embedded"]["data"]["conversations"]
    assert items[0] == {"id": world.cid, "name": "chat", "display_name": "Chat",
                        "member_id": world.members["carol"]["id"], "state": "INVITED",
                        "timestamp": {"created": items[0]["timestamp"]["created"]}, "sequence_number": 4}
    rest = await api.ok("GET", f"{url}?cursor={cursor_of(first['_links']['next']['href'])}", sub="carol")
    names = [c["name"] for c in items + rest["_embedded"]["data"]["conversations"]]
    assert names == ["chat", "more0", "more1"] and "next" not in rest["_links"]
    members = await api.ok("GET", f"/beta2/conversations/{world.cid}/members?page_size=10", sub="bob")
    assert [(m["name"], m["state"]) for m in members["_embedded"]["data"]["members"]] == [
        ("alice", "JOINED"), ("bob", "JOINED"), ("carol", "INVITED")]
    assert_error(await api.request("GET", url, sub="bob"), 403, "system:error:permission")


async def test_kick_leave_and_delete(world: World) -> None:
    api = world.api
    alice, bob = world.members["alice"]["id"], world.members["bob"]["id"]
    conv = f"/beta/conversations/{world.cid}"
    assert await api.ok("DELETE", f"/beta2/conversations/{world.cid}/events/4?from={alice}", 204, sub="alice") is None
    deleted = await api.ok("GET", f"/v1/conversations/{world.cid}/events/4")
    assert deleted["body"] == {} and "deleted" in deleted
    assert await api.ok("DELETE", f"{conv}/members/{bob}?from={alice}&reason_text=bye", 204, sub="alice") is None
    left = await api.ok("GET", f"/v1/conversations/{world.cid}/members/{bob}")
    assert (left["state"], left["reason"]) == ("LEFT", {"text": "bye"})
    assert await api.ok("DELETE", f"{conv}/members/{alice}?from={alice}", 204, sub="alice") is None
    assert (await api.ok("GET", f"/v1/conversations/{world.cid}/members/{alice}"))["state"] == "LEFT"
    assert await api.ok("DELETE", conv, 204) is None
    assert_error(await api.request("GET", f"/v1/conversations/{world.cid}"), 404, "conversation:error:not-found")


async def test_a_nul_in_a_leave_reason_is_refused(world: World) -> None:
    """Like every text the API takes: no database stores NUL in text, and no client means it."""
    api, bob = world.api, world.members["bob"]["id"]
    before = await world.snapshot()
    for query in ("reason_text=a%00b", "reason_code=%00"):
        assert_invalid(await api.request("DELETE", f"/beta/conversations/{world.cid}/members/{bob}?{query}",
                                         sub="bob"), query.split("=")[0])
    assert await world.snapshot() == before


async def test_get_user(world: World) -> None:
    alice = world.users["alice"]
    got = await world.api.ok("GET", f"/beta/users/{alice['id']}", sub="bob")
    assert got == {"id": alice["id"], "name": "alice", "display_name": None, "image_url": None, "channels": {},
                   "href": f"http://parley.test/beta/users/{alice['id']}"}


async def test_refusals_change_nothing(world: World) -> None:
    before = await world.snapshot()
    api, cid = world.api, world.cid
    alice, bob = world.members["alice"]["id"], world.members["bob"]["id"]
    events = f"/beta/conversations/{cid}/events"
    json_headers = {"Content-Type": "application/json"}
    for raw in (b'{"type": "text",', b"[1]", b"null"):
        response = await api.request("POST", events, sub="alice", content=raw, headers=json_headers)
        assert response.status_code == 400 and response.json()["code"] in (
            "http:error:invalid-json", "http:error:validation-fail")
    assert_invalid(await api.request("POST", events, sub="alice", json={"from": alice, "body": {}}), "type")
    assert_invalid(await api.request("POST", events, sub="alice", json={"type": "text", "from": alice,
                                                                        "body": {"text": ""}}), "body.text")
    assert_invalid(await api.request("POST", events, sub="alice", json={"type": "text:seen", "from": alice,
                                                                        "body": {"event_id": "x"}}), "body.event_id")
    assert_error(await api.request("POST", events, sub="alice", json={"type": "text:seen", "from": alice,
                                                                      "body": {"event_id": 99}}),
                 404, "event:error:not-found")
    assert_error(await api.request("POST", events, sub="alice", json={"type": "member:joined", "from": alice}),
                 400, "event:error:unknown-event")
    assert_error(await api.request("POST", events, sub="bob", json={"type": "text", "from": alice,
                                                                    "body": {"text": "as alice"}}),
                 403, "event:error:permission-denied")
    assert_error(await api.request("POST", "/beta/conversations/CON-nope/events", sub="alice",
                                   json={"type": "text", "body": {"text": "x"}}), 404, "conversation:error:not-found")
    assert_invalid(await api.request("POST", "/beta/conversations", sub="alice", json={"name": 5}), "name")
    assert_error(await api.request("POST", "/beta/conversations", sub="alice", json={"name": "chat"}),
                 409, "conversation:error:duplicate-name")
    assert_error(await api.request("DELETE", f"/beta/conversations/{cid}", sub="alice"),
                 403, "conversation:error:permission-denied")
    assert_error(await api.request("DELETE", f"/beta/conversations/{cid}/members/MEM-nope", sub="alice"),
                 404, "conversation:error:member-not-found")
    assert_error(await api.request("DELETE", f"/beta/conversations/{cid}/members/{alice}", sub="dave"),
                 404, "conversation:error:not-found")
    assert_error(await api.request("DELETE", f"/beta2/conversations/{cid}/events/4", sub="bob"),
                 403, "event:error:delete-not-allowed")
    assert_invalid(await api.request("DELETE", f"/beta2/conversations/{cid}/events/x", sub="alice"), "event_id")
    assert_error(await api.request("DELETE", f"/beta2/conversations/{cid}/events/1", sub="alice"),
                 403, "event:error:delete-not-allowed")
    url = f"/beta2/conversations/{cid}/events"
    for query in ("page_size=0", "page_size=x", "order=sideways", "start_id=-1", "end_id=a"):
        response = await api.request("GET", f"{url}?{query}", sub="bob")
        assert response.status_code == 400 and response.json()["invalid_parameters"], (query, response.text)
    assert_error(await api.request("GET", f"{url}?cursor=%%%", sub="bob"),
                 400, "paginator-builder:error:invalid-cursor")
    assert_error(await api.request("GET", f"{url}?event_type=a,,b;c", sub="bob"),
                 400, "event:error:invalid-filter-group")
    assert_error(await api.request("GET", f"/beta2/users/{world.users['bob']['id']}/conversations?state=gone",
                                   sub="bob"), 400, "user:error:invalid-state-lookup")
    assert_error(await api.request("GET", "/beta/users/USR-nope", sub="bob"), 404, "user:error:not-found")
    assert_error(await api.request("GET", url, headers={"Authorization": "Bearer nonsense"}),
                 401, "system:error:invalid-token")
    assert_error(await api.client.get(url), 401, "system:error:missing-token")
    assert_error(await api.request("PATCH", url, sub="bob"), 405, "http:error:method-not-allowed")
    assert (await api.ok("GET", f"/v1/conversations/{cid}/members/{bob}"))["state"] == "JOINED"
    assert await world.snapshot() == before


async def test_responses_match_the_document(world: World) -> None:
    """Successes and refusals of both families against their OpenAPI description."""
    c = Conformance()
    api, cid = world.api, world.cid
    alice, bob = world.members["alice"]["id"], world.members["bob"]["id"]

    async def call(method: str, template: str, path: str, sub: str | None = "alice", **kwargs: Any) -> Any:
        return c.check(await api.request(method, path, sub=sub, **kwargs), template)

    for one, two in (("/beta", "/beta2"), ("/v0.1", "/v0.2")):
        conv = f"{one}/conversations/{{conversation_id}}"
        created = await call("POST", f"{one}/conversations", f"{one}/conversations", json={"name": f"c{one}"})
        await call("POST", f"{one}/conversations", f"{one}/conversations", json={"name": f"c{one}"})  # 409
        await call("GET", conv, f"{one}/conversations/{cid}")
        await call("GET", conv, f"{one}/conversations/CON-nope")  # 404
        await call("POST", conv + "/events", f"{one}/conversations/{cid}/events",
                   json={"type": "text", "from": alice, "body": {"text": "hi"}})
        await call("POST", conv + "/events", f"{one}/conversations/{cid}/events",
                   json={"type": "text:typing:on", "from": alice, "body": {"activity": 1}})
        await call("POST", conv + "/events", f"{one}/conversations/{cid}/events", json={"type": "nope"})  # 400
        await call("GET", f"{one}/users/{{user_id}}", f"{one}/users/{world.users['bob']['id']}")
        events = f"{two}/conversations/{{conversation_id}}/events"
        page = await call("GET", events, f"{two}/conversations/{cid}/events?page_size=2", sub="bob")
        assert page["_links"]["next"]
        await call("GET", events, f"{two}/conversations/{cid}/events?start_id=x", sub="bob")  # 400
        await call("GET", f"{two}/conversations/{{conversation_id}}/members",
                   f"{two}/conversations/{cid}/members", sub="bob")
        await call("GET", f"{two}/users/{{user_id}}/conversations",
                   f"{two}/users/{world.users['carol']['id']}/conversations", sub="carol")
        await call("DELETE", f"{one}/conversations/{{conversation_id}}", f"{one}/conversations/{created['id']}",
                   sub=None)
    await call("DELETE", "/beta2/conversations/{conversation_id}/events/{event_id}",
               f"/beta2/conversations/{cid}/events/4?from={alice}")
    await call("DELETE", "/v0.2/conversations/{conversation_id}/events/{event_id}",
               f"/v0.2/conversations/{cid}/events/4", sub="bob")  # 403: not the sender
    await call("DELETE", "/beta/conversations/{conversation_id}/members/{member_id}",
               f"/beta/conversations/{cid}/members/{bob}?from={alice}&reason_code=k")
    await call("DELETE", "/v0.1/conversations/{conversation_id}/members/{member_id}",
               f"/v0.1/conversations/{cid}/members/{bob}")  # 400: already left
    assert {status for _, _, status in c.seen} == {"200", "201", "204", "400", "403", "404", "409"}


STANDARD_CLIENT_ACL = {"paths": {f"/*/{area}/**": {} for area in (
    "users", "conversations", "sessions", "devices", "image", "media", "applications", "push", "knocking", "legs")}}


async def test_the_usual_client_token_acl_covers_both_families(world: World) -> None:
    """The ACL the Vonage docs give client SDK tokens (`/*/conversations/**` ...) matches `/beta` and `/beta2`
    paths like `/v1` ones; a token without `conversations` is refused before anything is written."""
    api, cid = world.api, world.cid
    alice = world.members["alice"]["id"]
    usual = {"Authorization": f"Bearer {api.token('alice', acl=STANDARD_CLIENT_ACL)}"}
    narrow = {"Authorization": f"Bearer {api.token('alice', acl={'paths': {'/*/users/**': {}}})}"}
    text = {"type": "text", "from": alice, "body": {"text": "acl"}}
    assert (await api.client.post(f"/beta/conversations/{cid}/events", json=text, headers=usual)).status_code == 201
    page = await api.client.get(f"/beta2/users/{world.users['alice']['id']}/conversations", headers=usual)
    assert page.status_code == 200
    before = await world.snapshot()
    assert_error(await api.client.post(f"/beta/conversations/{cid}/events", json=text, headers=narrow),
                 403, "system:error:permission")
    assert (await api.client.get(f"/beta/users/{world.users['bob']['id']}", headers=narrow)).status_code == 200
    assert await world.snapshot() == before


async def test_oversize_and_deep_bodies_are_refused(world: World) -> None:
    before = await world.snapshot()
    api, alice = world.api, world.members["alice"]["id"]
    big = {"type": "text", "from": alice, "body": {"text": "a" * 300_000}}
    assert_error(await api.request("POST", f"/beta/conversations/{world.cid}/events", sub="alice", json=big),
                 413, "http:error:request-too-large")
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    custom = {"type": "custom:x", "from": alice, "body": {"x": deep}}
    assert_invalid(await api.request("POST", f"/v0.1/conversations/{world.cid}/events", sub="alice", json=custom),
                   "body")
    assert await world.snapshot() == before
