"""The client SDKs' REST paths: `/v0.3` (v1 resources, with the shapes @vonage/client-sdk reads), v0.2 member
removal and session refresh; bad input gets the API's error body, and nothing crosses applications."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from parley.domain.ports import Store
from tests.conftest import Api, KeyPair, add_application, assert_error, mint_token


async def chat(api: Api, *names: str) -> tuple[str, dict[str, str]]:
    conversation = await api.conversation("chat")
    members = {}
    for name in names:
        await api.user(name)
        members[name] = (await api.member(conversation["id"], name))["id"]
    return conversation["id"], members


async def post(api: Api, cid: str, event: dict[str, Any], sub: str | None = None) -> dict[str, Any]:
    created: dict[str, Any] = await api.ok("POST", f"/v0.3/conversations/{cid}/events", 201, json=event, sub=sub)
    return created


async def test_user_conversations_nest_the_membership(api: Api) -> None:
    alice = await api.user("alice")
    cid = (await api.conversation("chat"))["id"]
    member = await api.member(cid, "alice")
    listed = await api.ok("GET", f"/v0.3/users/{alice['id']}/conversations?order=ASC&page_size=10", sub="alice")
    [item] = listed["_embedded"]["conversations"]
    assert item["id"] == cid
    assert item["_embedded"] == {"member": {"id": member["id"], "state": "JOINED"}}
    assert item["_links"]["self"]["href"].endswith(f"/v1/conversations/{cid}")


async def test_chat_events_use_the_modern_names_and_leave_receipts_out(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")
    legacy = await post(api, cid, {"type": "text", "from": members["alice"], "body": {"text": "old style"}})
    modern = await post(api, cid, {"type": "message", "from": members["bob"],
                                   "body": {"message_type": "text", "text": "new style"}})
    await post(api, cid, {"type": "text:seen", "from": members["bob"], "body": {"event_id": legacy["id"]}})
    await post(api, cid, {"type": "message:delivered", "from": members["alice"], "body": {"event_id": modern["id"]}})
    await post(api, cid, {"type": "custom:poke", "from": members["alice"], "body": {"n": 1}})
    query = "order=ASC&page_size=2&filter_group_type=ChatEvents&filter_group_version=3&exclude_deleted_events=true"
    page = await api.ok("GET", f"/v0.3/conversations/{cid}/events?{query}", sub="bob")
    events = list(page["_embedded"]["events"])
    while "next" in page["_links"]:  # the cursor keeps the group filter
        page = await api.ok("GET", page["_links"]["next"]["href"].replace("http://parley.test", ""), sub="bob")
        events.extend(page["_embedded"]["events"])
    assert [(e["id"], e["type"]) for e in events] == [
        (1, "member:joined"), (2, "member:joined"), (legacy["id"], "message"), (modern["id"], "message"),
        (7, "custom:poke")]
    assert events[2]["body"] == {"message_type": "text", "text": "old style"}
    # the receipts left out of the listing are on the messages, whichever dialect sent them
    assert set(events[2]["state"]["seen_by"]) == {members["bob"]}
    assert events[2]["state"]["delivered_to"] == {}  # only receipts that were sent
    assert events[3]["state"]["seen_by"] == {}
    assert set(events[3]["state"]["delivered_to"]) == {members["alice"]}
    assert events[2]["_embedded"]["from_member"] == {"id": members["alice"]}
    assert events[0]["body"]["media"]["audio_settings"] is None  # the SDK requires the key
    # without the group every event is listed, receipts under the modern names
    everything = await api.ok("GET", f"/v0.3/conversations/{cid}/events?page_size=100", sub="bob")
    assert [e["type"] for e in everything["_embedded"]["events"]][4:6] == ["message:seen", "message:delivered"]
    # one event by id, mapped the same way
    got = await api.ok("GET", f"/v0.3/conversations/{cid}/events/{legacy['id']}", sub="bob")
    assert (got["type"], got["body"]) == ("message", {"message_type": "text", "text": "old style"})
    # v1 keeps events as they were sent
    v1 = await api.ok("GET", f"/v1/conversations/{cid}/events/{legacy['id']}")
    assert (v1["type"], v1["body"]) == ("text", {"text": "old style"})


async def test_bad_input_gets_the_api_error_body(api: Api) -> None:
    cid, members = await chat(api, "alice")
    base = f"/v0.3/conversations/{cid}/events"
    assert_error(await api.request("GET", f"{base}?filter_group_type=Everything"), 400,
                 "event:error:invalid-filter-group")
    assert_error(await api.request("GET", f"{base}?page_size=0"), 400, "http:error:validation-fail")
    assert_error(await api.request("GET", f"{base}?cursor=not-a-cursor"), 400,
                 "paginator-builder:error:invalid-cursor")
    assert_error(await api.request("GET", f"{base}/abc"), 400, "http:error:validation-fail")
    assert_error(await api.request("GET", f"{base}/99"), 404, "event:error:not-found")
    assert_error(await api.request("POST", base, content=b"{not json", sub="alice"), 400, "http:error:invalid-json")
    assert_error(await api.request("POST", base, json={"type": "message", "body": {"message_type": "nope"}},
                                   sub="alice"), 400, "http:error:validation-fail")
    assert_error(await api.request("GET", "/v0.3/conversations/CON-nope/members/me", sub="alice"), 404,
                 "conversation:error:not-found")
    assert_error(await api.request("DELETE", f"/v0.2/conversations/{cid}/members/MEM-nope", sub="alice"), 404,
                 "conversation:error:member-not-found")
    assert_error(await api.request("PUT", "/v0.2/sessions/SES-nope", sub="alice"), 404, "session:error:not-found")
    assert_error(await api.request("PUT", "/v0.2/sessions/SES-nope"), 404, "session:error:not-found")  # admin
    assert_error(await api.request("GET", f"{base}", headers={"Authorization": "Bearer garbage"}), 401,
                 "system:error:invalid-token")
    # nothing was half-written
    listed = await api.ok("GET", f"{base}?page_size=100")
    assert [e["type"] for e in listed["_embedded"]["events"]] == ["member:joined"]
    assert members


async def test_v0_2_member_removal_is_leaving(api: Api) -> None:
    cid, members = await chat(api, "alice", "bob")
    response = await api.request("DELETE", f"/v0.2/conversations/{cid}/members/{members['bob']}", sub="bob",
                                 json={"reason_code": "done", "reason_text": "bye", "from": members["bob"]})
    assert response.status_code == 204, response.text
    member = await api.ok("GET", f"/v0.3/conversations/{cid}/members/{members['bob']}")
    assert member["state"] == "LEFT"
    assert member["reason"] == {"code": "done", "text": "bye"}
    assert_error(await api.request("DELETE", f"/v0.2/conversations/{cid}/members/{members['bob']}", sub="bob"),
                 400, "conversation:error:invalid-member-state")


async def test_another_applications_tokens_see_nothing(api: Api, store: Store, other_keys: KeyPair) -> None:
    cid, members = await chat(api, "alice")
    other = await add_application(store, other_keys, "other")
    await api.ok("POST", "/v1/users", 201, json={"name": "alice"},
                 headers={"Authorization": f"Bearer {mint_token(other_keys, other.id)}"})
    theirs = {"Authorization": f"Bearer {mint_token(other_keys, other.id, 'alice')}"}
    for method, path in (("GET", f"/v0.3/conversations/{cid}"), ("GET", f"/v0.3/conversations/{cid}/events"),
                         ("GET", f"/v0.3/conversations/{cid}/members/me"),
                         ("DELETE", f"/v0.2/conversations/{cid}/members/{members['alice']}")):
        response = await api.client.request(method, path, headers=theirs)
        assert_error(response, 404, "conversation:error:not-found")
    # a token signed by another application's key but naming this one is refused outright
    forged = {"Authorization": f"Bearer {mint_token(other_keys, api.application_id, 'alice')}"}
    assert_error(await api.client.get(f"/v0.3/conversations/{cid}", headers=forged), 401,
                 "system:error:invalid-token")


async def test_patch_updates_a_conversation_and_names_find_users_and_conversations(api: Api) -> None:
    alice = await api.user("alice")
    cid = (await api.conversation("chat", display_name="before"))["id"]
    await api.member(cid, "alice")
    patched = await api.ok("PATCH", f"/v0.3/conversations/{cid}", json={"display_name": "after"}, sub="alice")
    assert (patched["display_name"], patched["name"]) == ("after", "chat")
    assert (await api.ok("GET", "/v0.3/conversations/chat", sub="alice"))["id"] == cid
    assert_error(await api.request("GET", "/v1/conversations/chat"), 404, "conversation:error:not-found")
    await api.user("mallory")  # a name finds nothing its id would not: access rules still apply
    assert_error(await api.request("GET", "/v0.3/conversations/chat", sub="mallory"), 404,
                 "conversation:error:not-found")
    assert (await api.ok("GET", "/v0.3/users/alice", sub="alice"))["id"] == alice["id"]
    assert (await api.ok("GET", f"/v0.3/users/{alice['id']}", sub="alice"))["name"] == "alice"
    assert_error(await api.request("GET", "/v1/users/alice"), 404, "user:error:not-found")  # v1: ids only
    assert_error(await api.request("GET", "/v0.3/users/nobody"), 404, "user:error:not-found")
    assert_error(await api.request("PATCH", f"/v0.3/conversations/{cid}", json={"display_name": 5}), 400,
                 "http:error:validation-fail")


async def test_names_with_any_characters_find_users_and_conversations(api: Api) -> None:
    """User names are often e-mail addresses, and names may hold spaces or any letter: a name is looked up as
    the client percent-encodes it, not only when it looks like an id."""
    names = ["alice@example.com", "José Müller", "a+b %"]
    users = [await api.user(name) for name in names]
    cid = (await api.conversation("Team chat ☕"))["id"]
    for name, user in zip(names, users, strict=True):
        got = await api.ok("GET", "/v0.3/users/" + quote(name, safe=""), sub="alice@example.com")
        assert (got["id"], got["name"]) == (user["id"], name)
    assert (await api.ok("GET", "/v0.3/conversations/" + quote("Team chat ☕", safe="")))["id"] == cid
    # names that exist nowhere, and a NUL, which no name holds, are still 404s in the API's format
    assert_error(await api.request("GET", "/v0.3/users/" + quote("bob@example.com")), 404, "user:error:not-found")
    assert_error(await api.request("GET", "/v0.3/users/a%00b"), 404, "http:error:not-found")
    assert_error(await api.request("PATCH", "/v0.3/users/" + quote("José Müller"), json={"display_name": "J"}),
                 404, "user:error:not-found")  # by name only for reading: changes need the id


async def test_reconnection_metrics_are_accepted_from_the_applications_tokens(api: Api) -> None:
    await api.user("alice")
    response = await api.request("POST", "/v2/rtc/metrics", sub="alice", json={"session_id": "SES-x", "metrics": {}})
    assert response.status_code == 204 and response.content == b""
    assert_error(await api.client.post("/v2/rtc/metrics", json={}), 401, "system:error:missing-token")


async def test_event_type_filters_match_the_names_each_family_shows(api: Api) -> None:
    """A filter names events as its family shows them: on /v0.3 a legacy `text` is a `message` (and its
    `text:seen` a `message:seen`); on /beta2 a text `message` is a `text`, while other messages stay `message`."""
    cid, members = await chat(api, "alice", "bob")
    alice, bob = members["alice"], members["bob"]
    legacy = (await post(api, cid, {"type": "text", "from": alice, "body": {"text": "old"}}))["id"]
    modern = (await post(api, cid, {"type": "message", "from": bob,
                                    "body": {"message_type": "text", "text": "new"}}))["id"]
    image = (await post(api, cid, {"type": "message", "from": bob,
                                   "body": {"message_type": "image", "image": {"url": "https://x/i.png"}}}))["id"]
    audio = (await post(api, cid, {"type": "message", "from": bob,
                                   "body": {"message_type": "audio", "audio": {"url": "https://x/a.mp3"}}}))["id"]
    legacy_seen = (await post(api, cid, {"type": "text:seen", "from": bob, "body": {"event_id": legacy}}))["id"]
    modern_seen = (await post(api, cid, {"type": "message:seen", "from": alice, "body": {"event_id": modern}}))["id"]

    async def listed(family: str, types: str) -> list[tuple[int, str]]:
        page = await api.ok("GET", f"/{family}/conversations/{cid}/events?page_size=100&event_type={types}",
                            sub="bob")
        events = page["_embedded"]["data"]["events"] if family == "beta2" else page["_embedded"]["events"]
        return [(e["id"], e["type"]) for e in events]

    assert await listed("v0.3", "message") == [(legacy, "message"), (modern, "message"), (image, "message"),
                                                (audio, "message")]
    assert await listed("v0.3", "message:seen") == [(legacy_seen, "message:seen"), (modern_seen, "message:seen")]
    assert await listed("v0.3", "text") == []  # not a name /v0.3 shows
    assert await listed("beta2", "text") == [(legacy, "text"), (modern, "text")]
    assert await listed("beta2", "image") == [(image, "image")]
    assert await listed("beta2", "message") == [(audio, "message")]
    assert await listed("beta2", "text:seen,image") == [(image, "image"), (legacy_seen, "text:seen"),
                                                        (modern_seen, "text:seen")]
    # v1 shows events as they were sent, and filters them so
    v1 = await api.ok("GET", f"/v1/conversations/{cid}/events?event_type=text")
    assert [e["id"] for e in v1["_embedded"]["events"]] == [legacy]
