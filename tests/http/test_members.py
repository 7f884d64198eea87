"""`/v1/conversations/{id}/members`: create (joined, invited), get, me, list, and the state machine via PATCH."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import (
    Api,
    assert_error,
)

BASE = "http://parley.test"
MEMBER_ID = re.compile(r"^MEM-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")



async def setup_chat(api: Api, *names: str) -> tuple[str, dict[str, dict[str, Any]]]:
    users = {name: await api.user(name) for name in names}
    conversation = await api.conversation("chat")
    return conversation["id"], users


async def event_types(api: Api, cid: str) -> list[tuple[int, str, str | None]]:
    listed = await api.ok("GET", f"/v1/conversations/{cid}/events?page_size=100")
    return [(e["id"], e["type"], e.get("from")) for e in listed["_embedded"]["events"]]


async def test_create_joined_member_by_user_name(api: Api) -> None:
    cid, users = await setup_chat(api, "alice")
    alice = users["alice"]
    created = await api.ok("POST", f"/v1/conversations/{cid}/members", 201, json={
        "state": "JOINED", "user": {"name": "alice"}, "channel": {"type": "app"},
        "media": {"audio_settings": {"enabled": False, "earmuffed": False, "muted": False}, "audio": False}})
    member_id = created["id"]
    assert MEMBER_ID.match(member_id)
    assert created["conversation_id"] == cid
    assert created["state"] == "JOINED"
    assert created["_embedded"]["user"] == {
        "id": alice["id"], "name": "alice", "_links": {"self": {"href": f"{BASE}/v1/users/{alice['id']}"}}}
    assert TIMESTAMP.match(created["timestamp"]["joined"])
    assert "invited" not in created["timestamp"] and "left" not in created["timestamp"]
    assert created["initiator"] == {"joined": {"is_system": True}}
    assert created["channel"] == {"type": "app", "from": {"type": "app"}, "to": {"type": "app", "user": alice["id"]}}
    assert created["media"] == {"audio_settings": {"enabled": False, "earmuffed": False, "muted": False},
                                "audio": False}
    assert created["_links"] == {"href": f"{BASE}/v1/conversations/{cid}/members/{member_id}"}

    got = await api.ok("GET", f"/v1/conversations/{cid}/members/{member_id}")
    assert got == created
    assert await event_types(api, cid) == [(1, "member:joined", member_id)]
    assert (await api.ok("GET", f"/v1/conversations/{cid}"))["sequence_number"] == 1


async def test_create_invited_member_by_user_id(api: Api) -> None:
    cid, users = await setup_chat(api, "alice")
    alice = users["alice"]
    created = await api.ok("POST", f"/v1/conversations/{cid}/members", 201, json={
        "state": "invited", "user": {"id": alice["id"]}, "channel": {"type": "app"}})
    assert created["state"] == "INVITED"
    assert created["_embedded"]["user"]["id"] == alice["id"]
    assert created["_embedded"]["user"]["name"] == "alice"
    assert TIMESTAMP.match(created["timestamp"]["invited"])
    assert "joined" not in created["timestamp"]
    assert created["initiator"] == {"invited": {"is_system": True}}
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events"))["_embedded"]["events"]
    assert [(e["id"], e["type"]) for e in events] == [(1, "member:invited")]
    assert events[0]["body"]["member_id"] == created["id"]
    assert events[0]["body"]["user"]["id"] == alice["id"]
    assert events[0]["body"]["user"]["name"] == "alice"


async def test_create_member_by_id_and_matching_name(api: Api) -> None:
    cid, users = await setup_chat(api, "alice")
    created = await api.ok("POST", f"/v1/conversations/{cid}/members", 201, json={
        "state": "joined", "user": {"id": users["alice"]["id"], "name": "alice"}, "channel": {"type": "app"}})
    assert created["_embedded"]["user"]["id"] == users["alice"]["id"]


async def test_members_me(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice", "bob")
    alice = await api.member(cid, "alice")
    me = await api.ok("GET", f"/v1/conversations/{cid}/members/me", sub="alice")
    assert me["id"] == alice["id"]
    assert me["state"] == "JOINED"
    assert me["_embedded"]["user"]["name"] == "alice"
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members/me"), 403,
                 "user:error:invalid-user-token")
    assert_error(await api.request("GET", f"/v1/conversations/{cid}/members/me", sub="bob"), 404,
                 "conversation:error:not-found")


async def test_list_members(api: Api) -> None:
    cid, users = await setup_chat(api, "alice", "bob")
    alice = await api.member(cid, "alice")
    bob = await api.member(cid, "bob", "invited")
    listed = await api.ok("GET", f"/v1/conversations/{cid}/members")
    assert listed["page_size"] == 10
    assert listed["_embedded"]["members"] == [
        {"id": alice["id"], "state": "JOINED",
         "_embedded": {"user": {"id": users["alice"]["id"], "name": "alice",
                                "_links": {"self": {"href": f"{BASE}/v1/users/{users['alice']['id']}"}}}},
         "_links": {"href": f"{BASE}/v1/conversations/{cid}/members/{alice['id']}"}},
        {"id": bob["id"], "state": "INVITED",
         "_embedded": {"user": {"id": users["bob"]["id"], "name": "bob",
                                "_links": {"self": {"href": f"{BASE}/v1/users/{users['bob']['id']}"}}}},
         "_links": {"href": f"{BASE}/v1/conversations/{cid}/members/{bob['id']}"}},
    ]
    assert listed["_links"]["first"]["href"].startswith(f"{BASE}/v1/conversations/{cid}/members?")
    assert "self" in listed["_links"]
    assert "next" not in listed["_links"]
    as_alice = await api.ok("GET", f"/v1/conversations/{cid}/members", sub="alice")
    assert [m["id"] for m in as_alice["_embedded"]["members"]] == [alice["id"], bob["id"]]


async def test_accept_invite(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    invited = await api.member(cid, "alice", "invited")
    accepted = await api.ok("PATCH", f"/v1/conversations/{cid}/members/{invited['id']}", sub="alice",
                            json={"state": "joined", "from": invited["id"]})
    assert accepted["id"] == invited["id"]
    assert accepted["state"] == "JOINED"
    assert accepted["timestamp"]["invited"] == invited["timestamp"]["invited"]
    assert TIMESTAMP.match(accepted["timestamp"]["joined"])
    assert accepted["initiator"]["joined"] == {"is_system": False, "user_id": invited["_embedded"]["user"]["id"],
                                               "member_id": invited["id"]}
    assert (await api.ok("GET", f"/v1/conversations/{cid}/members/{invited['id']}"))["state"] == "JOINED"
    assert await event_types(api, cid) == [(1, "member:invited", invited["id"]), (2, "member:joined", invited["id"])]


async def test_decline_invite(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    invited = await api.member(cid, "alice", "invited")
    declined = await api.ok("PATCH", f"/v1/conversations/{cid}/members/{invited['id']}", sub="alice",
                            json={"state": "LEFT"})
    assert declined["state"] == "LEFT"
    assert TIMESTAMP.match(declined["timestamp"]["left"])
    assert "joined" not in declined["timestamp"]
    assert (await api.ok("GET", f"/v1/conversations/{cid}/members/{invited['id']}"))["state"] == "LEFT"
    assert [t for _, t, _ in await event_types(api, cid)] == ["member:invited", "member:left"]


async def test_leave_with_reason(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    member = await api.member(cid, "alice")
    left = await api.ok("PATCH", f"/v1/conversations/{cid}/members/{member['id']}", sub="alice",
                        json={"state": "left", "from": member["id"], "reason": {"code": "x", "text": "bye"}})
    assert left["state"] == "LEFT"
    assert left["reason"] == {"code": "x", "text": "bye"}
    assert TIMESTAMP.match(left["timestamp"]["left"])
    assert left["initiator"]["left"] == {"is_system": False, "user_id": member["_embedded"]["user"]["id"],
                                         "member_id": member["id"]}
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events"))["_embedded"]["events"]
    assert [(e["id"], e["type"]) for e in events] == [(1, "member:joined"), (2, "member:left")]
    assert events[1]["body"]["reason"] == {"code": "x", "text": "bye"}
    assert events[1]["body"]["member_id"] == member["id"]


async def test_admin_leave_is_system(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    member = await api.member(cid, "alice")
    left = await api.ok("PATCH", f"/v1/conversations/{cid}/members/{member['id']}", json={"state": "left"})
    assert left["state"] == "LEFT"
    assert left["initiator"]["left"] == {"is_system": True}


async def test_kick_another_member(api: Api) -> None:
    cid, users = await setup_chat(api, "alice", "bob")
    alice = await api.member(cid, "alice")
    bob = await api.member(cid, "bob")
    kicked = await api.ok("PATCH", f"/v1/conversations/{cid}/members/{alice['id']}", sub="bob",
                          json={"state": "left", "from": bob["id"]})
    assert kicked["id"] == alice["id"]
    assert kicked["state"] == "LEFT"
    assert kicked["initiator"]["left"] == {"is_system": False, "user_id": users["bob"]["id"], "member_id": bob["id"]}
    assert (await api.ok("GET", f"/v1/conversations/{cid}/members/{alice['id']}"))["state"] == "LEFT"
    assert (await api.ok("GET", f"/v1/conversations/{cid}/members/{bob['id']}"))["state"] == "JOINED"
    assert await event_types(api, cid) == [
        (1, "member:joined", alice["id"]), (2, "member:joined", bob["id"]), (3, "member:left", bob["id"])]


async def test_state_machine_events_and_sequence_number(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    member = await api.member(cid, "alice", "invited")
    path = f"/v1/conversations/{cid}/members/{member['id']}"
    await api.ok("PATCH", path, json={"state": "joined"})
    await api.ok("PATCH", path, json={"state": "left"})
    assert [(i, t) for i, t, _ in await event_types(api, cid)] == [
        (1, "member:invited"), (2, "member:joined"), (3, "member:left")]
    assert (await api.ok("GET", f"/v1/conversations/{cid}"))["sequence_number"] == 3


async def test_join_after_invite_accepts_the_invite(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    invited = await api.member(cid, "alice", "invited")
    joined = await api.member(cid, "alice", "joined")
    assert joined["id"] == invited["id"]
    assert joined["state"] == "JOINED"
    listed = await api.ok("GET", f"/v1/conversations/{cid}/members")
    assert [(m["id"], m["state"]) for m in listed["_embedded"]["members"]] == [(invited["id"], "JOINED")]


async def test_rejoin_after_leaving_creates_a_new_member(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice")
    first = await api.member(cid, "alice")
    await api.ok("PATCH", f"/v1/conversations/{cid}/members/{first['id']}", json={"state": "left"})
    second = await api.member(cid, "alice")
    assert second["id"] != first["id"]
    listed = await api.ok("GET", f"/v1/conversations/{cid}/members")
    assert [(m["id"], m["state"]) for m in listed["_embedded"]["members"]] == [
        (first["id"], "LEFT"), (second["id"], "JOINED")]
    me = await api.ok("GET", f"/v1/conversations/{cid}/members/me", sub="alice")
    assert me["id"] == second["id"]


async def test_user_joins_itself_and_invites_others(api: Api) -> None:
    cid, users = await setup_chat(api, "alice", "bob")
    alice = await api.member(cid, "alice", sub="alice")
    assert alice["state"] == "JOINED"
    assert alice["initiator"] == {"joined": {"is_system": False}}
    bob = await api.member(cid, "bob", "invited", sub="alice")
    assert bob["state"] == "INVITED"
    assert bob["invited_by"] == alice["id"]
    assert bob["initiator"] == {"invited": {"is_system": False, "user_id": users["alice"]["id"],
                                            "member_id": alice["id"]}}
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events"))["_embedded"]["events"]
    assert [(e["type"], e.get("from")) for e in events] == [("member:joined", alice["id"]),
                                                             ("member:invited", alice["id"])]
    assert events[1]["body"]["invited_by"] == alice["id"]


async def test_user_token_membership_permissions(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice", "bob", "carol", "dave")
    alice = await api.member(cid, "alice")
    carol = await api.member(cid, "carol", "invited")
    # an invited (not joined) user may neither invite nor kick
    response = await api.request("POST", f"/v1/conversations/{cid}/members", sub="carol", json={
        "state": "invited", "user": {"name": "dave"}, "channel": {"type": "app"}})
    assert_error(response, 403, "conversation:error:permission-denied")
    response = await api.request("PATCH", f"/v1/conversations/{cid}/members/{alice['id']}", sub="carol",
                                 json={"state": "left"})
    assert_error(response, 403, "conversation:error:permission-denied")
    # nobody may accept an invite on someone else's behalf, by PATCH or by a join
    response = await api.request("PATCH", f"/v1/conversations/{cid}/members/{carol['id']}", sub="alice",
                                 json={"state": "joined"})
    assert_error(response, 403, "conversation:error:permission-denied")
    response = await api.request("POST", f"/v1/conversations/{cid}/members", sub="alice", json={
        "state": "joined", "user": {"name": "carol"}, "channel": {"type": "app"}})
    assert_error(response, 403, "conversation:error:permission-denied")
    # a stranger does not see the conversation at all
    response = await api.request("PATCH", f"/v1/conversations/{cid}/members/{alice['id']}", sub="bob",
                                 json={"state": "left"})
    assert_error(response, 404, "conversation:error:not-found")
    listed = await api.ok("GET", f"/v1/conversations/{cid}/members")
    assert [(m["id"], m["state"]) for m in listed["_embedded"]["members"]] == [
        (alice["id"], "JOINED"), (carol["id"], "INVITED")]
    assert (await api.ok("GET", f"/v1/conversations/{cid}"))["sequence_number"] == 2
    # a joined user may add another straight away (nexmo-client's `conversation.join({user_name})`)
    dave = await api.ok("POST", f"/v1/conversations/{cid}/members", 201, sub="alice", json={
        "state": "joined", "user": {"name": "dave"}, "channel": {"type": "app"}})
    assert dave["state"] == "JOINED"
    assert dave["initiator"]["joined"]["member_id"] == alice["id"]


async def test_patch_members_me(api: Api) -> None:
    cid, _ = await setup_chat(api, "alice", "bob")
    invited = await api.member(cid, "alice", "invited")
    accepted = await api.ok("PATCH", f"/v1/conversations/{cid}/members/me", sub="alice", json={"state": "joined"})
    assert accepted["id"] == invited["id"]
    assert accepted["state"] == "JOINED"
    left = await api.ok("PATCH", f"/v1/conversations/{cid}/members/me", sub="alice", json={"state": "left"})
    assert left["id"] == invited["id"]
    assert left["state"] == "LEFT"
    assert_error(await api.request("PATCH", f"/v1/conversations/{cid}/members/me", sub="alice",
                                   json={"state": "joined"}), 400, "conversation:error:invalid-member-state")
    assert_error(await api.request("PATCH", f"/v1/conversations/{cid}/members/me", json={"state": "left"}), 403,
                 "user:error:invalid-user-token")
    assert_error(await api.request("PATCH", f"/v1/conversations/{cid}/members/me", sub="bob",
                                   json={"state": "left"}), 404, "conversation:error:not-found")
    assert [t for _, t, _ in await event_types(api, cid)] == ["member:invited", "member:joined", "member:left"]


async def test_admin_invites_on_behalf_of_a_member(api: Api) -> None:
    cid, users = await setup_chat(api, "alice", "bob")
    alice = await api.member(cid, "alice")
    bob = await api.ok("POST", f"/v1/conversations/{cid}/members", 201, json={
        "state": "invited", "user": {"name": "bob"}, "channel": {"type": "app"}, "member_id_inviting": alice["id"]})
    assert bob["invited_by"] == alice["id"]
    assert bob["initiator"] == {"invited": {"is_system": False, "user_id": users["alice"]["id"],
                                            "member_id": alice["id"]}}
    events = (await api.ok("GET", f"/v1/conversations/{cid}/events"))["_embedded"]["events"]
    assert (events[1]["type"], events[1]["from"]) == ("member:invited", alice["id"])


async def test_a_creator_reads_its_conversation_before_joining_it(api: Api) -> None:
    await api.user("erin")
    await api.user("frank")
    created = await api.ok("POST", "/v1/conversations", 201, sub="erin", json={"name": "erins"})
    got = await api.ok("GET", f"/v1/conversations/{created['id']}", sub="erin")
    assert (got["id"], got["sequence_number"]) == (created["id"], 0)
    assert (await api.ok("GET", f"/v1/conversations/{created['id']}/members", sub="erin"))["_embedded"] == {
        "members": []}
    assert_error(await api.request("GET", f"/v1/conversations/{created['id']}", sub="frank"), 404,
                 "conversation:error:not-found")
    joined = await api.member(created["id"], "erin", sub="erin")
    assert joined["state"] == "JOINED"
