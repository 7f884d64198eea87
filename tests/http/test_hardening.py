"""Inputs found by fuzzing and review that once reached a 500 or slipped past a limit."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest

from parley.domain.ports import Store
from parley.settings import Settings
from tests.conftest import Api, KeyPair, add_application, assert_error, mint_token


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_deeply_nested_bodies_are_refused_before_anything_is_written(api: Api) -> None:
    user = await api.user("alice")
    conversation = await api.conversation("chat")
    member = await api.member(conversation["id"], "alice")
    deep = {"properties": {"custom_data": {"x": nested(40)}}}
    assert_error(await api.request("PATCH", f"/v1/users/{user['id']}", json=deep), 400,
                 "http:error:validation-fail")
    assert_error(await api.request("POST", f"/v1/conversations/{conversation['id']}/events",
                                   json={"type": "custom:x", "from": member["id"], "body": {"d": nested(300)}}),
                 400, "http:error:validation-fail")
    # nothing changed, and history still renders
    assert (await api.ok("GET", f"/v1/users/{user['id']}"))["properties"] == {"custom_data": {}}
    events = await api.ok("GET", f"/v1/conversations/{conversation['id']}/events")
    assert [e["type"] for e in events["_embedded"]["events"]] == ["member:joined"]
    shallow = {"properties": {"custom_data": {"x": nested(20)}}}
    assert (await api.ok("PATCH", f"/v1/users/{user['id']}", json=shallow))["properties"] == shallow["properties"]


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.x"


async def test_forged_application_ids_are_invalid_tokens_not_errors(api: Api) -> None:
    for application_id in ("\ud800", "\u0000abc", "not-a-uuid", api.application_id.upper(), 7):
        token = unsigned({"application_id": application_id, "iat": int(time.time())})
        response = await api.client.get("/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "system:error:invalid-token")


async def test_unencodable_sub_and_huge_time_claims_are_invalid_tokens(api: Api) -> None:
    for claims in ({"sub": "\ud800"}, {"iat": 10**400}, {"exp": 10**400, "iat": None}, {"nbf": -(10**400)}):
        token = mint_token(api.keys, api.application_id, **claims)  # type: ignore[arg-type]
        response = await api.client.get("/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "system:error:invalid-token")


async def test_a_token_without_iat_cannot_outlive_the_lifetime_cap(api: Api) -> None:
    far = mint_token(api.keys, api.application_id, iat=None, exp=int(time.time()) + 10 * 365 * 86_400)
    assert_error(await api.client.get("/v1/users", headers={"Authorization": f"Bearer {far}"}), 401,
                 "system:error:invalid-token")
    near = mint_token(api.keys, api.application_id, iat=None, exp=int(time.time()) + 3_600)
    assert (await api.client.get("/v1/users", headers={"Authorization": f"Bearer {near}"})).status_code == 200


async def test_overlong_event_ids_are_validation_errors(api: Api) -> None:
    await api.user("bob")
    conversation = await api.conversation("chat")
    member = await api.member(conversation["id"], "bob")
    long_id = "1" * 5_000
    assert_error(await api.request("GET", f"/v1/conversations/{conversation['id']}/events/{long_id}"), 400,
                 "http:error:validation-fail")
    receipt = {"type": "message:seen", "from": member["id"], "body": {"event_id": long_id}}
    assert_error(await api.request("POST", f"/v1/conversations/{conversation['id']}/events", json=receipt), 400,
                 "http:error:validation-fail")


async def test_a_user_token_cannot_rename_its_user(api: Api) -> None:
    carol = await api.user("carol")
    response = await api.request("PATCH", f"/v1/users/{carol['id']}", sub="carol", json={"name": "dave"})
    assert_error(response, 403, "system:error:permission")
    same = await api.ok("PATCH", f"/v1/users/{carol['id']}", sub="carol", json={"name": "carol", "display_name": "C"})
    assert (same["name"], same["display_name"]) == ("carol", "C")
    renamed = await api.ok("PATCH", f"/v1/users/{carol['id']}", json={"name": "caroline"})
    assert renamed["name"] == "caroline"


async def test_user_conversation_pages_survive_a_rejoin(api: Api) -> None:
    user = await api.user("erin")
    ids = []
    for name in ("c0", "c1", "c2"):
        conversation = await api.conversation(name)
        await api.member(conversation["id"], "erin")
        ids.append(conversation["id"])
    seen: list[str] = []
    url: str | None = f"/v1/users/{user['id']}/conversations?page_size=1"
    for page in range(6):
        if url is None:
            break
        body = await api.ok("GET", url)
        seen.extend(c["id"] for c in body["_embedded"]["conversations"])
        if page == 0:  # leave and rejoin the first conversation while paging
            me = await api.ok("GET", f"/v1/conversations/{ids[0]}/members/me", sub="erin")
            await api.ok("PATCH", f"/v1/conversations/{ids[0]}/members/{me['id']}", json={"state": "left"})
            await api.member(ids[0], "erin")
        nxt = body["_links"].get("next")
        url = nxt["href"].removeprefix("http://parley.test") if nxt else None
    assert seen == ids


async def test_a_database_locked_by_another_process_answers_503(api: Api, settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL locks rows, not the database")
    holder = sqlite3.connect(settings.sqlite_path(), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = await api.request("POST", "/v1/users", json={"name": "blocked"})
        assert_error(response, 503, "system:error:busy")
        assert response.headers["retry-after"] == "1"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await api.request("POST", "/v1/users", json={"name": "blocked"})).status_code == 201


async def test_user_channels_keep_the_formats_the_sdks_parse(api: Api) -> None:
    for channels, name in (({"pstn": [{"number": "abc"}]}, "channels.pstn.number"),
                           ({"pstn": "x"}, "channels.pstn"),
                           ({"sip": [{"uri": "http://x"}]}, "channels.sip.uri"),
                           ({"websocket": [{"uri": "wss://x", "content-type": "audio/mp3"}]},
                            "channels.websocket.content-type")):
        response = await api.request("POST", "/v1/users", json={"name": "frank", "channels": channels})
        body = assert_error(response, 400, "http:error:validation-fail")
        assert [p["name"] for p in body["invalid_parameters"]] == [name]
    good = {"pstn": [{"number": 447700900000}], "sip": [{"uri": "sip:1@example.com"}],
            "websocket": [{"uri": "wss://example.com/s", "content-type": "audio/l16;rate=16000"}]}
    created = await api.ok("POST", "/v1/users", 201, json={"name": "frank", "channels": good})
    assert created["channels"] == good


async def test_writes_for_an_application_deleted_under_a_cached_key_are_401(
        store: Store, settings: Settings, keys: KeyPair) -> None:
    import dataclasses

    import httpx

    from parley.app import build_app

    application = await add_application(store, keys, "doomed")
    app = build_app(store, dataclasses.replace(settings, key_cache_seconds=60))  # the key stays cached
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        headers = {"Authorization": f"Bearer {mint_token(keys, application.id)}"}
        assert (await client.get("/v1/users", headers=headers)).status_code == 200
        assert await store.delete_application(application.id)
        response = await client.post("/v1/users", json={"name": "ghost"}, headers=headers)
        assert_error(response, 401, "system:error:invalid-token")
