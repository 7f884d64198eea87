"""Flows that cross resources: deleting a user, acting on behalf of a member, `members/me`, custom data."""

from __future__ import annotations

from tests.conftest import Api


async def test_deleting_a_user_ends_its_memberships(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    first = await api.conversation("first")
    second = await api.conversation("second")
    await api.member(first["id"], "alice")
    await api.member(second["id"], "alice", state="invited")
    bob = await api.member(first["id"], "bob")
    alice_id = (await api.ok("GET", "/v1/users?name=alice"))["_embedded"]["users"][0]["id"]

    await api.ok("DELETE", f"/v1/users/{alice_id}", 204)

    for conversation in (first, second):
        events = await api.ok("GET", f"/v1/conversations/{conversation['id']}/events?event_type=member:left")
        left = events["_embedded"]["events"]
        assert len(left) == 1
        assert left[0]["body"]["reason"] == {"code": "user:deleted", "text": "The user was deleted."}
        members = await api.ok("GET", f"/v1/conversations/{conversation['id']}/members")
        states = {m["_embedded"]["user"]["name"]: m["state"] for m in members["_embedded"]["members"]}
        assert states["alice"] == "LEFT"
    # the name is free again, and the other member is untouched
    await api.user("alice")
    still = await api.ok("GET", f"/v1/conversations/{first['id']}/members/{bob['id']}")
    assert still["state"] == "JOINED"


async def test_an_admin_invites_on_behalf_of_a_member(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    conversation = await api.conversation("chat")
    alice = await api.member(conversation["id"], "alice")
    invited = await api.ok("POST", f"/v1/conversations/{conversation['id']}/members", 201, json={
        "state": "invited", "user": {"name": "bob"}, "channel": {"type": "app"},
        "member_id_inviting": alice["id"]})
    assert invited["invited_by"] == alice["id"]
    assert invited["initiator"]["invited"] == {"is_system": False, "user_id": alice["_embedded"]["user"]["id"],
                                               "member_id": alice["id"]}
    event = await api.ok("GET", f"/v1/conversations/{conversation['id']}/events/2")
    assert (event["type"], event["from"]) == ("member:invited", alice["id"])


async def test_patch_members_me_accepts_an_invite(api: Api) -> None:
    await api.user("carol")
    conversation = await api.conversation("chat")
    await api.member(conversation["id"], "carol", state="invited")
    accepted = await api.ok("PATCH", f"/v1/conversations/{conversation['id']}/members/me", sub="carol",
                            json={"state": "joined"})
    assert accepted["state"] == "JOINED"
    admin = await api.request("PATCH", f"/v1/conversations/{conversation['id']}/members/me",
                              json={"state": "left"})
    assert (admin.status_code, admin.json()["code"]) == (403, "user:error:invalid-user-token")


async def test_custom_data_only_when_asked_for(api: Api) -> None:
    await api.user("dave")
    conversation = await api.conversation("chat", properties={"ttl": 60, "custom_data": {"k": "v"}})
    await api.member(conversation["id"], "dave")
    user_id = (await api.ok("GET", "/v1/users?name=dave"))["_embedded"]["users"][0]["id"]

    plain = await api.ok("GET", f"/v1/users/{user_id}/conversations")
    assert plain["_embedded"]["conversations"][0]["properties"] == {"ttl": 60}
    full = await api.ok("GET", f"/v1/users/{user_id}/conversations?include_custom_data=true")
    assert full["_embedded"]["conversations"][0]["properties"] == {"ttl": 60, "custom_data": {"k": "v"}}

    lite = await api.ok("GET", "/v1/conversations?include_custom_data=true")
    assert lite["_embedded"]["conversations"][0]["properties"] == {"custom_data": {"k": "v"}}
    assert "properties" not in (await api.ok("GET", "/v1/conversations"))["_embedded"]["conversations"][0]
