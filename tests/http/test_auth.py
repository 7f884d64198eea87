"""Authentication and authorization: the bearer header, RS256 JWT validation, claims, ACLs, tenants."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt

from parley.domain.ports import Store
from tests.conftest import (
    Api,
    KeyPair,
    add_application,
    assert_error,
    mint_token,
    private_key,
)

BASE = "http://parley.test"



def segment(data: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")


def hand_made(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    signing = segment(header) + b"." + segment(payload)
    signature = b"" if secret is None else base64.urlsafe_b64encode(
        hmac.new(secret, signing, hashlib.sha256).digest()).rstrip(b"=")
    return (signing + b"." + signature).decode()


def claims(api: Api, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"application_id": api.application_id, "iat": now, "exp": now + 900, "jti": str(uuid.uuid4()), **extra}


async def call(api: Api, authorization: str | None, method: str = "GET", path: str = "/v1/users",
               json_body: Any = None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await api.client.request(method, path, headers=headers, json=json_body)


async def bearer(api: Api, token: str, method: str = "GET", path: str = "/v1/users") -> httpx.Response:
    return await call(api, f"Bearer {token}", method, path)


async def test_missing_token(api: Api) -> None:
    for header in (None, ""):
        body = assert_error(await call(api, header), 401, "system:error:missing-token")
        assert body["title"] == "Unauthorized."


async def test_not_a_bearer_header(api: Api) -> None:
    token = api.token()
    for header in ("Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer   ", f"Token {token}", token, f"Basic {token}"):
        assert_error(await call(api, header), 401, "system:error:invalid-token")


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    await api.user("alice")
    for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
        response = await call(api, f"{scheme} {api.token()}")
        assert response.status_code == 200, (scheme, response.text)
        assert [u["name"] for u in response.json()["_embedded"]["users"]] == ["alice"]


async def test_garbage_tokens(api: Api) -> None:
    valid = api.token()
    header, payload, signature = valid.split(".")
    forged_payload = segment(claims(api, sub=None)).decode()
    for token in ("abc", "a.b.c", "...", valid[:-5], f"{header}.{forged_payload}.{signature}",
                  f"{header}.{payload}", f"{valid}.x"):
        assert_error(await bearer(api, token), 401, "system:error:invalid-token")


async def test_wrong_signing_key_or_application(api: Api, other_keys: KeyPair) -> None:
    assert_error(await bearer(api, mint_token(other_keys, api.application_id)), 401, "system:error:invalid-token")
    assert_error(await bearer(api, mint_token(api.keys, str(uuid.uuid4()))), 401, "system:error:invalid-token")
    key = private_key(api.keys.private_pem)
    no_application = {k: v for k, v in claims(api).items() if k != "application_id"}
    assert_error(await bearer(api, jwt.encode(no_application, key, algorithm="RS256")), 401,
                 "system:error:invalid-token")
    assert_error(await bearer(api, jwt.encode(claims(api, application_id=42), key, algorithm="RS256")), 401,
                 "system:error:invalid-token")


async def test_only_rs256_is_accepted(api: Api) -> None:
    payload = claims(api)
    # HS256 keyed with the public key: the classic algorithm-confusion forgery
    hs256 = hand_made({"alg": "HS256", "typ": "JWT"}, payload, api.keys.public_pem.encode())
    assert_error(await bearer(api, hs256), 401, "system:error:invalid-token")
    hs256_secret = hand_made({"alg": "HS256", "typ": "JWT"}, payload, b"secret")
    assert_error(await bearer(api, hs256_secret), 401, "system:error:invalid-token")
    unsigned = hand_made({"alg": "none", "typ": "JWT"}, payload, None)
    assert_error(await bearer(api, unsigned), 401, "system:error:invalid-token")
    rs512 = jwt.encode(payload, private_key(api.keys.private_pem), algorithm="RS512")
    assert_error(await bearer(api, rs512), 401, "system:error:invalid-token")


async def test_expired_token(api: Api) -> None:
    now = int(time.time())
    body = assert_error(await bearer(api, api.token(iat=now - 3600, exp=now - 120)), 401,
                        "system:error:expired-token")
    assert body["title"] == "Unauthorized."


async def test_numeric_string_claims_are_accepted(api: Api) -> None:
    now = int(time.time())
    assert (await bearer(api, api.token(exp=str(now + 600)))).status_code == 200
    assert (await bearer(api, api.token(iat=str(now), exp=str(now + 600)))).status_code == 200
    assert_error(await bearer(api, api.token(exp=str(now - 600), iat=now - 900)), 401, "system:error:expired-token")
    assert_error(await bearer(api, api.token(exp="tomorrow")), 401, "system:error:invalid-token")
    assert_error(await bearer(api, api.token(exp=True)), 401, "system:error:invalid-token")


async def test_iat_and_exp_may_not_both_be_missing(api: Api) -> None:
    assert_error(await bearer(api, api.token(iat=None, exp=None)), 401, "system:error:invalid-token")


async def test_default_lifetime_without_exp_is_15_minutes(api: Api) -> None:
    now = int(time.time())
    assert (await bearer(api, api.token(exp=None))).status_code == 200
    assert (await bearer(api, api.token(exp=None, iat=now - 14 * 60))).status_code == 200
    assert_error(await bearer(api, api.token(exp=None, iat=now - 16 * 60)), 401, "system:error:expired-token")
    now = int(time.time())
    assert (await bearer(api, api.token(iat=None, exp=now + 60))).status_code == 200


async def test_not_yet_valid_tokens(api: Api) -> None:
    now = int(time.time())
    assert_error(await bearer(api, api.token(nbf=now + 3600)), 401, "system:error:invalid-token")
    assert_error(await bearer(api, api.token(iat=now + 3600, exp=now + 4000)), 401, "system:error:invalid-token")
    assert (await bearer(api, api.token(nbf=now - 10))).status_code == 200
    assert (await bearer(api, api.token(iat=now + 5))).status_code == 200  # within the clock skew


async def test_lifetime_is_capped_at_24_hours(api: Api) -> None:
    now = int(time.time())
    assert_error(await bearer(api, api.token(iat=now - 25 * 3600, exp=now + 3600)), 401,
                 "system:error:expired-token")
    assert (await bearer(api, api.token(iat=now - 23 * 3600, exp=now + 3600))).status_code == 200


async def test_user_tokens_name_an_existing_user(api: Api) -> None:
    alice = await api.user("alice")
    assert (await api.ok("GET", f"/v1/users/{alice['id']}", sub="alice"))["name"] == "alice"
    assert_error(await api.request("GET", "/v1/users", sub="nobody"), 404, "user:error:not-found")
    assert_error(await api.request("GET", f"/v1/users/{alice['id']}", sub="ALICE"), 404, "user:error:not-found")
    assert_error(await bearer(api, api.token(sub=123)), 401, "system:error:invalid-token")
    assert_error(await bearer(api, api.token(sub="")), 401, "system:error:invalid-token")
    token = api.token(sub="alice")
    assert (await bearer(api, token)).status_code == 200
    assert (await api.request("DELETE", f"/v1/users/{alice['id']}")).status_code == 204
    assert_error(await bearer(api, token), 404, "user:error:not-found")


async def test_acl_paths(api: Api) -> None:
    alice = await api.user("alice")
    cid = (await api.conversation("chat"))["id"]
    await api.member(cid, "alice")
    users_only = {"paths": {"/*/users/**": {}}}
    for sub in (None, "alice"):
        token = api.token(sub=sub, acl=users_only)
        assert (await bearer(api, token, "GET", "/v1/users")).status_code == 200
        assert (await bearer(api, token, "GET", f"/v1/users/{alice['id']}")).status_code == 200
        assert (await bearer(api, token, "GET", f"/v1/users/{alice['id']}/conversations")).status_code == 200
        for path in ("/v1/conversations", f"/v1/conversations/{cid}", f"/v1/conversations/{cid}/events"):
            assert_error(await bearer(api, token, "GET", path), 403, "system:error:permission")

    get_only = api.token(acl={"paths": {"/*/users/**": {"methods": ["GET"]}}})
    assert (await bearer(api, get_only, "GET", "/v1/users")).status_code == 200
    response = await call(api, f"Bearer {get_only}", "POST", "/v1/users", {"name": "bob"})
    assert_error(response, 403, "system:error:permission")
    assert [u["name"] for u in (await api.ok("GET", "/v1/users"))["_embedded"]["users"]] == ["alice"]

    for acl in ({"paths": {}}, {"paths": []}, {}, "everything", []):
        assert_error(await bearer(api, api.token(acl=acl)), 403, "system:error:permission")

    standard = {"paths": {"/*/users/**": {}, "/*/conversations/**": {}, "/*/sessions/**": {}, "/*/devices/**": {},
                          "/*/image/**": {}, "/*/media/**": {}, "/*/applications/**": {}, "/*/push/**": {},
                          "/*/knocking/**": {}, "/*/legs/**": {}}}
    token = api.token(sub="alice", acl=standard)
    for path in ("/v1/users", "/v1/conversations", f"/v1/conversations/{cid}/events",
                 f"/v1/conversations/{cid}/members/me"):
        assert (await bearer(api, token, "GET", path)).status_code == 200, path


async def test_tenants_are_isolated(api: Api, store: Store, other_keys: KeyPair) -> None:
    other = await add_application(store, other_keys, "other")
    b = Api(api.client, other_keys, other.id)

    alice = await api.user("alice")
    chat = await api.conversation("chat")
    member = await api.member(chat["id"], "alice")
    await api.text(chat["id"], member["id"], "secret")

    assert (await b.ok("GET", "/v1/users"))["_embedded"]["users"] == []
    assert (await b.ok("GET", "/v1/conversations"))["_embedded"]["conversations"] == []
    assert_error(await b.request("GET", f"/v1/users/{alice['id']}"), 404, "user:error:not-found")
    assert_error(await b.request("PATCH", f"/v1/users/{alice['id']}", json={"display_name": "x"}), 404,
                 "user:error:not-found")
    assert_error(await b.request("DELETE", f"/v1/users/{alice['id']}"), 404, "user:error:not-found")
    for method, path in (("GET", f"/v1/conversations/{chat['id']}"), ("DELETE", f"/v1/conversations/{chat['id']}"),
                         ("GET", f"/v1/conversations/{chat['id']}/events"),
                         ("GET", f"/v1/conversations/{chat['id']}/events/2"),
                         ("GET", f"/v1/conversations/{chat['id']}/members"),
                         ("GET", f"/v1/conversations/{chat['id']}/members/{member['id']}")):
        assert_error(await b.request(method, path), 404, "conversation:error:not-found")
    response = await b.request("POST", f"/v1/conversations/{chat['id']}/events", json={
        "type": "message", "from": member["id"], "body": {"message_type": "text", "text": "x"}})
    assert_error(response, 404, "conversation:error:not-found")
    assert_error(await b.request("GET", "/v1/users", sub="alice"), 404, "user:error:not-found")

    # names are unique per application only
    b_alice = await b.user("alice")
    b_chat = await b.conversation("chat")
    assert b_alice["id"] != alice["id"]
    b_member = await b.member(b_chat["id"], "alice")
    assert b_member["_embedded"]["user"]["id"] == b_alice["id"]
    assert [u["id"] for u in (await b.ok("GET", "/v1/users"))["_embedded"]["users"]] == [b_alice["id"]]
    assert [u["id"] for u in (await api.ok("GET", "/v1/users"))["_embedded"]["users"]] == [alice["id"]]
    # a member of one tenant cannot be used in the other
    response = await b.request("POST", f"/v1/conversations/{b_chat['id']}/events", json={
        "type": "message", "from": member["id"], "body": {"message_type": "text", "text": "x"}})
    assert_error(response, 404, "conversation:error:member-not-found")
    got = await api.ok("GET", f"/v1/conversations/{chat['id']}")
    assert got["sequence_number"] == 2
    assert (await api.ok("GET", f"/v1/users/{alice['id']}"))["name"] == "alice"

    # a token signed with A's key but naming B's application is refused
    assert_error(await bearer(api, mint_token(api.keys, other.id)), 401, "system:error:invalid-token")


async def test_nan_claims_are_not_numbers(api: Api) -> None:
    now = int(time.time())
    for token in (api.token(iat=now - 25 * 3600, exp="NaN"),  # would be expired twice over
                  api.token(exp="nan"),  # iat now: never expires
                  api.token(iat="NaN", exp=now + 10 * 365 * 86400),  # escapes the 24 h cap
                  api.token(nbf="NaN")):
        assert_error(await bearer(api, token), 401, "system:error:invalid-token")


async def test_infinite_exp_is_not_a_number(api: Api) -> None:
    assert_error(await bearer(api, api.token(iat=None, exp="Infinity")), 401, "system:error:invalid-token")


async def test_tokens_of_a_deleted_application_stop_working(api: Api, store: Store) -> None:
    token = api.token()
    assert (await bearer(api, token)).status_code == 200
    assert await store.delete_application(api.application_id)
    assert_error(await bearer(api, token), 401, "system:error:invalid-token")
    response = await call(api, f"Bearer {token}", "POST", "/v1/users", {"name": "ghost"})
    assert_error(response, 401, "system:error:invalid-token")
