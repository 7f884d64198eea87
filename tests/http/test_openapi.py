"""The OpenAPI document (`src/parley/api/http/openapi.json`) is valid, complete and true to the server.

- it is a valid OpenAPI 3.1 document;
- it describes exactly the (method, path) pairs the app serves, with the path parameters each path has;
- `/openapi.json` and `/docs` serve it;
- the responses of a real session (successes and errors) have documented statuses, headers and schemas;
- every `/v1` operation documents the 503 a locked SQLite database answers, and that answer matches it;
- every path answers a method it does not serve with 405 and an `Allow` header naming exactly the documented methods.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route, WebSocketRoute

import parley
from parley.api.http import docs
from parley.app import build_app, http_routes, open_store, services
from parley.domain.clock import SystemClock
from parley.domain.ports import NoSink, Store
from parley.settings import Settings
from tests.conftest import Api, assert_error, mint_token

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PUBLIC = {"/health", "/openapi.json", "/docs"}
SPEC_URI = "urn:parley:openapi"


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(docs.SPEC.read_bytes())
    return loaded


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation
            for path, item in document["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[Store, Settings]]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'parley.db'}")
    store = await open_store(settings)
    try:
        yield store, settings
    finally:
        await store.close()


# -- the document ----------------------------------------------------------------------------------------------------

def test_document_is_valid_openapi_3_1() -> None:
    document = spec()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "parley — Conversation API"
    assert document["info"]["version"] == parley.__version__


def test_security_is_global_except_for_public_paths() -> None:
    document = spec()
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for (method, path), operation in operations(document).items():
        if path in PUBLIC:
            assert operation.get("security") == [], (method, path)
        else:
            assert "security" not in operation, (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_every_operation_has_an_id_summary_and_success_status() -> None:
    ids = []
    for (method, path), operation in operations(spec()).items():
        ids.append(operation["operationId"])
        assert operation["summary"], (method, path)
        successes = {status for status in operation["responses"] if status.startswith("2")}
        expected = {"POST": {"201"}, "DELETE": {"204"}}.get(method, {"200"})
        assert successes == expected, (method, path)
    assert len(ids) == len(set(ids))


def _resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        target: Any = document
        for part in item["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        item = target
    return item


def test_every_v1_operation_documents_the_busy_503() -> None:
    document = spec()
    busy = document["components"]["responses"]["Busy"]
    assert busy["headers"]["Retry-After"]["required"] is True
    assert "system:error:busy" in busy["description"]
    for (method, path), operation in operations(document).items():
        documented = operation["responses"].get("503")
        if path in PUBLIC:
            assert documented is None, (method, path)
        else:
            assert documented == {"$ref": "#/components/responses/Busy"}, (method, path)


def test_path_parameters_match_the_templates() -> None:
    document = spec()
    for path, item in document["paths"].items():
        expected = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            declared = [_resolve(document, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
            in_path = {p["name"] for p in declared if p["in"] == "path"}
            assert in_path == expected, (method, path)


# -- the document against the app ------------------------------------------------------------------------------------

def _template(path: str) -> str:
    """`/v1/users/{user_id:id}` (a Starlette path with a convertor) as OpenAPI writes it: `/v1/users/{user_id}`."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


async def _routes(store: Store, settings: Settings) -> list[Route]:
    routes = http_routes(store, settings, services(store, settings, SystemClock(), NoSink()))
    # HTTP routes only: the socket dialects (WebSocketRoute) are not part of the REST document
    assert all(isinstance(route, Route | WebSocketRoute) for route in routes)
    return [route for route in routes if isinstance(route, Route)]


async def test_document_lists_exactly_the_routes_the_app_serves(sqlite_store: tuple[Store, Settings]) -> None:
    served = {(method, _template(route.path)) for route in await _routes(*sqlite_store)
              for method in route.methods or () if method != "HEAD"}
    assert set(operations(spec())) == served


async def test_path_parameter_patterns_follow_the_route_convertors(sqlite_store: tuple[Store, Settings]) -> None:
    """A path id the route's convertor refuses matches no route; the document states the same pattern."""
    document = spec()
    for route in await _routes(*sqlite_store):
        item = document["paths"][_template(route.path)]
        for name, convertor in route.param_convertors.items():
            if convertor.regex == "[^/]+":  # the default convertor: any segment
                continue
            parameters = [_resolve(document, p) for p in item.get("parameters", [])]
            (declared,) = [p for p in parameters if p["name"] == name]
            assert declared["schema"]["pattern"] == f"^{convertor.regex}$", (route.path, name)


async def test_openapi_json_and_docs_are_served(sqlite_store: tuple[Store, Settings]) -> None:
    store, settings = sqlite_store
    transport = httpx.ASGITransport(app=build_app(store, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        served = await client.get("/openapi.json")
        page = await client.get("/docs")
        health = await client.get("/health")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == spec()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/conversations/{conversation_id}/events" in page.text
    for path in spec()["paths"]:
        assert f"<code>{path}</code>" in page.text
    assert health.json() == {"status": "ok"}


def _sample_path(template: str) -> str:
    samples = {"user_id": "USR-x", "conversation_id": "CON-x", "member_id": "MEM-x", "event_id": "1",
               "session_id": "SES-x"}
    return re.sub(r"{(\w+)}", lambda match: samples[match.group(1)], template)


async def test_every_path_answers_405_with_a_complete_allow_header(sqlite_store: tuple[Store, Settings]) -> None:
    """Before any authentication, a method the path does not serve is 405 with an `Allow` naming the documented
    methods (and HEAD wherever GET is); HEAD itself is served wherever GET is."""
    store, settings = sqlite_store
    document = spec()
    error = Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/Error"},
                                 registry=Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document)))
    transport = httpx.ASGITransport(app=build_app(store, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        for template, item in document["paths"].items():
            documented = {method.upper() for method in item if method in HTTP_METHODS}
            allowed = documented | ({"HEAD"} if "GET" in documented else set())
            path = _sample_path(template)
            for method in sorted({"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"} - documented):
                response = await client.request(method, path)
                body = assert_error(response, 405, "http:error:method-not-allowed")
                assert not list(error.iter_errors(body)), (method, template)
                assert {m.strip() for m in response.headers["allow"].split(",")} == allowed, (method, template)
            if "GET" in documented:
                head = await client.head(path)
                assert head.status_code == (200 if template in PUBLIC else 401), template
                assert head.content == b""


# -- real responses against the document -----------------------------------------------------------------------------

class Conformance:
    """Checks that a response's status is documented for its operation and that its body matches the schema."""

    def __init__(self) -> None:
        self.document = spec()
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(self.document))
        self.seen: set[tuple[str, str, str]] = set()

    def check(self, response: httpx.Response, template: str) -> Any:
        method = response.request.method.lower()
        status = str(response.status_code)
        documented = self.document["paths"][template][method]["responses"]
        assert status in documented, f"{method.upper()} {template} answered an undocumented {status}: {response.text}"
        self.seen.add((method, template, status))
        where = f"/paths/{_escape(template)}/{method}/responses/{status}"
        described = documented[status]
        if "$ref" in described:  # a shared response (components/responses)
            where = described["$ref"].removeprefix("#")
            described = _resolve(self.document, described)
        for name, header in described.get("headers", {}).items():
            if header.get("required"):
                assert name.lower() in response.headers, f"{method.upper()} {template} {status}: no {name} header"
            value = response.headers.get(name)
            if value is not None and "const" in header.get("schema", {}):
                assert value == header["schema"]["const"], (template, status, name, value)
        content = described.get("content")
        if content is None:
            assert response.content == b""
            return None
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        pointer = f"{where}/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{method.upper()} {template} {status}: {errors}\n{body}"
        return body


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _nested(depth: int) -> object:
    """`depth` arrays around a number."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_responses_match_the_document(api: Api, store: Store) -> None:
    c = Conformance()
    client = api.client

    async def call(method: str, template: str, path: str, *, sub: str | None = None, **kwargs: Any) -> Any:
        return c.check(await api.request(method, path, sub=sub, **kwargs), template)

    # users
    alice = await call("POST", "/v1/users", "/v1/users", json={"name": "alice", "display_name": "Alice",
                                                               "properties": {"custom_data": {"k": 1}}})
    bob = await call("POST", "/v1/users", "/v1/users", json={"name": "bob"})
    unnamed = await call("POST", "/v1/users", "/v1/users")  # no body at all
    assert unnamed["name"].startswith("NAM-")
    await call("POST", "/v1/users", "/v1/users", json={"name": "alice"})  # 409
    await call("POST", "/v1/users", "/v1/users", json={"name": "me"})  # 400
    await call("POST", "/v1/users", "/v1/users", sub="alice", json={"name": "carol"})  # 403
    await call("POST", "/v1/users", "/v1/users", content=b"{" + b" " * 300_000 + b"}",
               headers={"content-type": "application/json"})  # 413
    c.check(await client.get("/v1/users"), "/v1/users")  # 401
    await call("GET", "/v1/users", "/v1/users?page_size=1&name=alice")
    await call("GET", "/v1/users", "/v1/users?page_size=0")  # 400
    await call("GET", "/v1/users", "/v1/users?cursor=%25%25")  # 400
    await call("GET", "/v1/users", "/v1/users", sub="nobody")  # 404
    await call("GET", "/v1/users/{user_id}", f"/v1/users/{alice['id']}")
    await call("GET", "/v1/users/{user_id}", "/v1/users/no%20such%20id")  # 404: no route
    await call("PATCH", "/v1/users/{user_id}", f"/v1/users/{alice['id']}", sub="alice", json={"image_url": "x"})
    await call("PATCH", "/v1/users/{user_id}", f"/v1/users/{bob['id']}", sub="alice", json={})  # 403
    empty_name = await call("PATCH", "/v1/users/{user_id}", f"/v1/users/{alice['id']}", json={"name": ""})  # 400
    assert empty_name["invalid_parameters"][0]["name"] == "name"
    await call("GET", "/v1/users", "/v1/users?page_size=%D9%A3")  # 400: page_size must be ASCII digits
    for exp in ("nan", "Infinity"):  # 401: time claims must be finite
        refused = c.check(await client.get("/v1/users", headers=api.headers(exp=exp)), "/v1/users")
        assert refused["code"] == "system:error:invalid-token"
    only_get = {"Authorization": f"Bearer {api.token(acl={'paths': {'/*/users/**': {'methods': ['GET']}}})}"}
    assert (await client.head("/v1/users", headers=only_get)).status_code == 200  # HEAD counts as GET
    c.check(await client.post("/v1/users", headers=only_get, json={"name": "x"}), "/v1/users")  # 403
    await call("GET", "/v1/users/{user_id}/sessions", f"/v1/users/{alice['id']}/sessions")

    # only an admin token renames a user; the same name is fine
    renamed = await call("PATCH", "/v1/users/{user_id}", f"/v1/users/{alice['id']}", sub="alice",
                         json={"name": "alicia"})  # 403
    assert renamed["code"] == "system:error:permission"
    same = await call("PATCH", "/v1/users/{user_id}", f"/v1/users/{alice['id']}", sub="alice",
                      json={"name": "alice", "display_name": "Alice A."})
    assert (same["name"], same["display_name"], same["image_url"]) == ("alice", "Alice A.", "x")  # only what was sent

    # bodies nest at most 32 levels (the body object is level 1); past the parser's own limit the JSON is invalid
    deepest = {"name": "deep", "properties": {"custom_data": {"x": _nested(29)}}}
    assert (await call("POST", "/v1/users", "/v1/users", json=deepest))["name"] == "deep"
    too_deep = await call("POST", "/v1/users", "/v1/users",
                          json={"name": "deeper", "properties": {"custom_data": {"x": _nested(30)}}})  # 400
    assert (too_deep["code"], [p["name"] for p in too_deep["invalid_parameters"]]) == (
        "http:error:validation-fail", ["body"])
    unparsable = await call("POST", "/v1/users", "/v1/users", content=b'{"x":' + b"[" * 1100 + b"]" * 1100 + b"}",
                            headers={"content-type": "application/json"})  # 400
    assert unparsable["code"] == "http:error:invalid-json"

    # user channels: the documented request schema and the server refuse the same bodies, naming the field
    user_write = Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/UserWrite"}, registry=c.registry)
    for channels, name in [
        ({"pstn": [{"number": "447700900000"}]}, "channels.pstn.number"),
        ({"pstn": [{}]}, "channels.pstn.number"),
        ({"pstn": {"number": 1}}, "channels.pstn"),
        ({"sms": ["447700900000"]}, "channels.sms"),
        ({"sip": [{"uri": "http://example.com"}]}, "channels.sip.uri"),
        ({"websocket": [{"uri": "https://example.com"}]}, "channels.websocket.uri"),
        ({"websocket": [{"uri": "wss://example.com", "content-type": "audio/l16;rate=44100"}]},
         "channels.websocket.content-type"),
        ({"websocket": [{"uri": "wss://example.com", "content_type": 16000}]}, "channels.websocket.content_type"),
    ]:
        body = {"name": "erin", "channels": channels}
        assert list(user_write.iter_errors(body)), body
        refused = await call("POST", "/v1/users", "/v1/users", json=body)  # 400
        assert (refused["code"], [p["name"] for p in refused["invalid_parameters"]]) == (
            "http:error:validation-fail", [name]), body
    channels = {"pstn": [{"number": 447700900000}], "sip": [{"uri": "sips:+1@example.com"}],
                "websocket": [{"uri": "ws://example.com/s", "content-type": "audio/l16;rate=8000",
                               "content_type": "audio/l16;rate=24000"}],
                "sms": [{"number": "447700900001"}], "pigeon": [1]}
    assert not list(user_write.iter_errors({"name": "erin", "channels": channels}))
    erin = await call("POST", "/v1/users", "/v1/users", json={"name": "erin", "channels": channels})
    assert erin["channels"] == {k: v for k, v in channels.items() if k != "pigeon"}

    # token rules: all 401 system:error:invalid-token
    now = int(time.time())
    for token in [
        api.token(iat=None, exp=now + 2 * 86_400),  # no iat, and beyond the 24 h lifetime
        api.token(iat=10**400),  # beyond a double's range
        api.token(sub="\ud800"),  # not encodable text
        mint_token(api.keys, api.application_id.upper()),  # not the canonical lower-case UUID
    ]:
        refused = c.check(await client.get("/v1/users", headers={"Authorization": f"Bearer {token}"}), "/v1/users")
        assert refused["code"] == "system:error:invalid-token"
    near = api.token(iat=None, exp=now + 3_600)  # without iat, within the lifetime
    c.check(await client.get("/v1/users", headers={"Authorization": f"Bearer {near}"}), "/v1/users")

    # conversations
    chat = await call("POST", "/v1/conversations", "/v1/conversations",
                      json={"name": "chat", "properties": {"ttl": 60, "type": "t", "custom_data": {"a": "b"}}})
    await call("POST", "/v1/conversations", "/v1/conversations", json={"name": "chat"})  # 409
    conversation = f"/v1/conversations/{chat['id']}"
    await call("GET", "/v1/conversations", "/v1/conversations?date_start=2018-01-01%2010:00:00")
    await call("GET", "/v1/conversations", "/v1/conversations?date_end=yesterday")  # 400
    await call("GET", "/v1/conversations/{conversation_id}", conversation)
    await call("GET", "/v1/conversations/{conversation_id}", "/v1/conversations/CON-nope")  # 404
    await call("PUT", "/v1/conversations/{conversation_id}", conversation, json={"display_name": "Chat"})
    lite = await call("GET", "/v1/conversations", "/v1/conversations?include_custom_data=true")
    assert lite["_embedded"]["conversations"][0]["properties"] == {"custom_data": {"a": "b"}}
    assert "properties" not in (await call("GET", "/v1/conversations", "/v1/conversations"))[
        "_embedded"]["conversations"][0]

    # members
    members = "/v1/conversations/{conversation_id}/members"
    joined = await call("POST", members, f"{conversation}/members",
                        json={"state": "JOINED", "user": {"name": "alice"}, "channel": {"type": "app"}})
    await call("POST", members, f"{conversation}/members",
               json={"state": "joined", "user": {"name": "alice"}, "channel": {"type": "app"}})  # 400
    invited = await call("POST", members, f"{conversation}/members", sub="alice",
                         json={"state": "invited", "user": {"id": bob["id"]}, "channel": {"type": "app"}})
    await call("GET", members, f"{conversation}/members")
    await call("GET", members + "/me", f"{conversation}/members/me", sub="alice")
    await call("GET", members + "/me", f"{conversation}/members/me")  # 403 for an admin token
    await call("GET", members + "/{member_id}", f"{conversation}/members/{invited['id']}")
    await call("GET", members + "/{member_id}", f"{conversation}/members/MEM-nope")  # 404
    await call("PATCH", members + "/{member_id}", f"{conversation}/members/{invited['id']}",
               json={"state": "left", "reason": {"code": "x", "text": "y"}})
    await call("PATCH", members + "/{member_id}", f"{conversation}/members/{invited['id']}",
               json={"state": "left"})  # 400 invalid-member-state
    carol = await call("POST", "/v1/users", "/v1/users", json={"name": "carol"})
    on_behalf = await call("POST", members, f"{conversation}/members", json={
        "state": "invited", "user": {"id": carol["id"]}, "channel": {"type": "sms"},
        "member_id_inviting": joined["id"]})
    assert on_behalf["invited_by"] == joined["id"]
    assert on_behalf["initiator"]["invited"] == {"is_system": False, "user_id": alice["id"],
                                                 "member_id": joined["id"]}
    me = members + "/me"
    await call("PATCH", me, f"{conversation}/members/me", sub="carol", json={"state": "invited"})  # 400
    await call("PATCH", me, f"{conversation}/members/me", json={"state": "joined"})  # 403: an admin token
    await call("PATCH", me, "/v1/conversations/CON-nope/members/me", sub="carol", json={"state": "left"})  # 404
    accepted = await call("PATCH", me, f"{conversation}/members/me", sub="carol", json={"state": "joined"})
    assert (accepted["id"], accepted["state"]) == (on_behalf["id"], "JOINED")
    dave = await call("POST", "/v1/users", "/v1/users", json={"name": "dave"})
    system = await call("POST", members, f"{conversation}/members", json={
        "state": "invited", "user": {"name": "dave"}, "channel": {"type": "app"}, "from": "MEM-nobody"})
    assert system["initiator"]["invited"] == {"is_system": True} and "invited_by" not in system
    for body, name in [
        ({"state": "joined", "user": {"name": "dave"}}, "channel"),
        ({"state": "joined", "user": {"name": "dave"}, "channel": {"type": "pigeon"}}, "channel.type"),
        ({"state": "joined", "user": {"name": "da\u0000ve"}, "channel": {"type": "app"}}, "user.name"),
        ({"state": "joined", "user": {"id": "U" * 101}, "channel": {"type": "app"}}, "user.id"),
    ]:
        refused = await call("POST", members, f"{conversation}/members", json=body)  # 400
        assert refused["invalid_parameters"][0]["name"] == name, refused

    # events
    events = "/v1/conversations/{conversation_id}/events"
    message = {"type": "message", "from": joined["id"], "body": {"message_type": "text", "text": "hi"}}
    first = await api.request("POST", f"{conversation}/events", json=message, headers={"Idempotency-Key": "k"})
    again = await api.request("POST", f"{conversation}/events", json=message, headers={"Idempotency-Key": "k"})
    sent = c.check(first, events)
    assert c.check(again, events) == sent
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    typing = await call("POST", events, f"{conversation}/events", sub="alice", json={"type": "text:typing:on"})
    assert typing["id"] == 0
    await call("POST", events, f"{conversation}/events", sub="alice", json={"type": "text:seen",
                                                                           "body": {"event_id": sent["id"]}})
    await call("POST", events, f"{conversation}/events", json={"type": "nonsense"})  # 400
    await call("POST", events, f"{conversation}/events", sub="bob", json=message)  # 403: bob is not joined
    await call("POST", events, f"{conversation}/events", content=b"[1]")  # 400
    missing = await call("POST", events, f"{conversation}/events", sub="alice",
                         json={"type": "message:seen", "body": {"event_id": 10_000}})  # 404
    assert missing["code"] == "event:error:not-found"
    for headers, extra, name in [({"Idempotency-Key": "k" * 201}, {}, "idempotency-key"),
                                 ({}, {"client_ref": "a\u0000b"}, "client_ref")]:
        refused = await call("POST", events, f"{conversation}/events", headers=headers,
                             json={**message, **extra})  # 400
        assert refused["invalid_parameters"][0]["name"] == name
    await call("POST", events, f"{conversation}/events",
               json={**message, "body": {"message_type": "text", "text": ""}})  # 400: empty text
    as_object = await call("GET", events, f"{conversation}/events?page_size=2&event_type=message,member:*")
    assert isinstance(as_object["_embedded"], dict)
    as_array = await call("GET", events, f"{conversation}/events?page_size=2",
                          headers={"User-Agent": "@vonage/server-sdk/3.0.0, node/20.0.0"})
    assert isinstance(as_array["_embedded"], list)
    if "next" in as_array["_links"]:
        await call("GET", events, httpx.URL(as_array["_links"]["next"]["href"]).raw_path.decode())
    await call("GET", events, f"{conversation}/events?event_type=a,b,c,d,e,f")  # 400
    await call("GET", events + "/{event_id}", f"{conversation}/events/{sent['id']}")
    await call("GET", events + "/{event_id}", f"{conversation}/events/0")  # 400
    await call("GET", events + "/{event_id}", f"{conversation}/events/999")  # 404
    await call("GET", events + "/{event_id}", f"{conversation}/events/{'0' * 19}1")  # 400: 20 digits
    await call("GET", events + "/{event_id}", f"{conversation}/events/{'0' * 18}1")  # 200: 19 digits
    await call("GET", events, f"{conversation}/events?start_id={'0' * 19}1")  # 400
    for event_id, status in ((f"{'0' * 19}1", 400), (f"{'0' * 18}1", 201)):
        receipt = await api.request("POST", f"{conversation}/events", sub="alice",
                                    json={"type": "message:delivered", "body": {"event_id": event_id}})
        assert receipt.status_code == status, receipt.text
        c.check(receipt, events)
    await call("DELETE", events + "/{event_id}", f"{conversation}/events/1")  # 403: member:joined
    await call("DELETE", events + "/{event_id}", f"{conversation}/events/{sent['id']}")
    deleted = await call("GET", events + "/{event_id}", f"{conversation}/events/{sent['id']}")
    assert deleted["body"] == {} and "deleted" in deleted

    # user conversations, then the deletes
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{alice['id']}/conversations?state=JOINED",
               sub="alice")
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{alice['id']}/conversations?state=x")  # 400
    user_conversations = f"/v1/users/{alice['id']}/conversations"
    plain = await call("GET", "/v1/users/{user_id}/conversations", user_conversations)
    assert plain["_embedded"]["conversations"][0]["properties"] == {"ttl": 60, "type": "t"}
    full = await call("GET", "/v1/users/{user_id}/conversations", f"{user_conversations}?include_custom_data=TRUE")
    assert full["_embedded"]["conversations"][0]["properties"]["custom_data"] == {"a": "b"}
    for path in ("/v1/conversations", user_conversations):  # date_end applies to user tokens too
        template = "/v1/conversations" if path == "/v1/conversations" else "/v1/users/{user_id}/conversations"
        early = await call("GET", template, f"{path}?date_end=2000-01-01", sub="alice")
        assert early["_embedded"]["conversations"] == []
        await call("GET", template, f"{path}?date_end=soon", sub="alice")  # 400
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{bob['id']}/conversations",
               sub="alice")  # 403
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{carol['id']}")  # carol leaves the conversation first
    left = await call("GET", events, f"{conversation}/events?event_type=member:left&order=desc&page_size=1")
    (gone,) = left["_embedded"]["events"]
    assert gone["from"] == on_behalf["id"]
    assert gone["body"]["reason"] == {"code": "user:deleted", "text": "The user was deleted."}
    assert gone["body"]["initiator"]["left"] == {"is_system": True}
    record = await call("GET", members + "/{member_id}", f"{conversation}/members/{on_behalf['id']}")
    assert (record["state"], record["reason"]) == ("LEFT", gone["body"]["reason"])
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{dave['id']}")  # only invited: leaves too

    # user conversations are ordered by the conversation: leaving and rejoining does not move one
    other = await call("POST", "/v1/conversations", "/v1/conversations", json={"name": "other"})
    await call("POST", members, f"/v1/conversations/{other['id']}/members",
               json={"state": "joined", "user": {"name": "alice"}, "channel": {"type": "app"}})
    await call("PATCH", members + "/{member_id}", f"{conversation}/members/{joined['id']}", json={"state": "left"})
    await call("POST", members, f"{conversation}/members",
               json={"state": "joined", "user": {"name": "alice"}, "channel": {"type": "app"}})
    for path, template, sub_ in ((user_conversations, "/v1/users/{user_id}/conversations", None),
                                 ("/v1/conversations", "/v1/conversations", "alice")):
        listed = await call("GET", template, path, sub=sub_)
        assert [item["id"] for item in listed["_embedded"]["conversations"]] == [chat["id"], other["id"]]

    # only an admin token deletes a conversation: members get 403, strangers 404
    for name, code in (("alice", "conversation:error:permission-denied"),  # JOINED
                       ("bob", "conversation:error:permission-denied"),  # LEFT
                       ("erin", "conversation:error:not-found")):  # never a member
        refused = await call("DELETE", "/v1/conversations/{conversation_id}", conversation, sub=name)
        assert refused["code"] == code, name
    await call("GET", "/v1/conversations/{conversation_id}", conversation)  # still there
    await call("DELETE", "/v1/conversations/{conversation_id}", conversation)
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{bob['id']}")
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{bob['id']}")  # 404

    # a deleted application's tokens stop working (the fixture's key cache lasts 0 s)
    assert await store.delete_application(api.application_id)
    c.check(await client.get("/v1/users", headers=api.headers()), "/v1/users")  # 401

    statuses = {status for _, _, status in c.seen}
    assert {"200", "201", "204", "400", "401", "403", "404", "409", "413"} <= statuses
    assert {("patch", me, status) for status in ("200", "400", "403", "404")} <= c.seen
    conversation_item = "/v1/conversations/{conversation_id}"
    assert {("post", events, "404"), ("post", members, "400"), ("get", "/v1/conversations", "400")} <= c.seen
    assert {("delete", conversation_item, status) for status in ("204", "403", "404")} <= c.seen


async def test_busy_responses_match_the_document(api: Api, settings: Settings) -> None:
    """Another process holding SQLite's write lock past the busy timeout: 503 with `Retry-After`, as documented."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL locks rows, not the database")
    c = Conformance()
    user = await api.user("alice")
    conversation = await api.conversation("chat")
    holder = sqlite3.connect(settings.sqlite_path(), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for method, template, path, body in [
            ("POST", "/v1/users", "/v1/users", {"name": "blocked"}),
            ("PATCH", "/v1/users/{user_id}", f"/v1/users/{user['id']}", {"display_name": "A"}),
            ("PUT", "/v1/conversations/{conversation_id}", f"/v1/conversations/{conversation['id']}",
             {"display_name": "C"}),
        ]:
            busy = c.check(await api.request(method, path, json=body), template)
            assert busy["code"] == "system:error:busy"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert {status for _, _, status in c.seen} == {"503"}
    assert (await api.request("POST", "/v1/users", json={"name": "blocked"})).status_code == 201
