"""The OpenAPI document (`src/parley/api/http/openapi.json`) is valid, complete and true to the server.

- it is a valid OpenAPI 3.1 document;
- it describes exactly the (method, path) pairs the app serves, with the path parameters each path has;
- `/openapi.json` and `/docs` serve it;
- the responses of a real session (successes and errors) have documented statuses and match the documented schemas.
"""

from __future__ import annotations

import re
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
from starlette.routing import Route

import parley
from parley.api.http import docs
from parley.app import build_app, http_routes, open_store, services
from parley.domain.clock import SystemClock
from parley.domain.ports import NoSink, Store
from parley.settings import Settings
from tests.conftest import Api

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
    assert all(isinstance(route, Route) for route in routes)
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
        content = documented[status].get("content")
        if content is None:
            assert response.content == b""
            return None
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        pointer = f"/paths/{_escape(template)}/{method}/responses/{status}/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{method.upper()} {template} {status}: {errors}\n{body}"
        return body


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


async def test_responses_match_the_document(api: Api) -> None:
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
    await call("GET", "/v1/users/{user_id}/sessions", f"/v1/users/{alice['id']}/sessions")

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
    await call("DELETE", events + "/{event_id}", f"{conversation}/events/1")  # 403: member:joined
    await call("DELETE", events + "/{event_id}", f"{conversation}/events/{sent['id']}")
    deleted = await call("GET", events + "/{event_id}", f"{conversation}/events/{sent['id']}")
    assert deleted["body"] == {} and "deleted" in deleted

    # user conversations, then the deletes
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{alice['id']}/conversations?state=JOINED",
               sub="alice")
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{alice['id']}/conversations?state=x")  # 400
    await call("GET", "/v1/users/{user_id}/conversations", f"/v1/users/{bob['id']}/conversations",
               sub="alice")  # 403
    await call("DELETE", "/v1/conversations/{conversation_id}", conversation)
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{bob['id']}")
    await call("DELETE", "/v1/users/{user_id}", f"/v1/users/{bob['id']}")  # 404

    statuses = {status for _, _, status in c.seen}
    assert {"200", "201", "204", "400", "401", "403", "404", "409", "413"} <= statuses
