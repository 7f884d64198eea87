"""CORS on the REST paths, as a browser app on another origin needs it (reference client-wire-protocols.md §10)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from parley.api.cors import Origins, own_origin
from parley.app import build_app
from parley.domain.clock import SystemClock, iso
from parley.domain.models import Application
from parley.domain.ports import Store
from parley.settings import Settings, cors_origins_from_env
from tests.conftest import Api, KeyPair, assert_error

APP = "https://app.example"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,x-custom"}


@pytest.fixture
async def browser_api(store: Store, settings: Settings, application: Application, keys: KeyPair
                      ) -> AsyncIterator[Api]:
    app = build_app(store, dataclasses.replace(settings, cors_origins=(APP,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        yield Api(client, keys, application.id)


async def test_a_preflight_is_answered_before_authentication(browser_api: Api) -> None:
    response = await browser_api.client.options("/v1/users", headers=PREFLIGHT)  # no token
    assert response.status_code == 204
    headers = response.headers
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT, PATCH, DELETE"
    # listed by name: a `*` would not cover Authorization
    assert headers["access-control-allow-headers"] == "Authorization, Content-Type, x-custom"
    assert headers["access-control-max-age"] == "600"
    assert "Origin" in headers["vary"]


async def test_a_preflight_from_another_origin_is_refused(browser_api: Api) -> None:
    response = await browser_api.client.options("/v1/users", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert_error(response, 403, "system:error:permission")
    assert "access-control-allow-origin" not in response.headers


async def test_answers_name_the_allowed_origin_errors_included(browser_api: Api) -> None:
    listed = await browser_api.request("GET", "/v1/users", headers={"Origin": APP})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == APP
    assert listed.headers["vary"] == "Origin"
    assert "Retry-After" in listed.headers["access-control-expose-headers"]
    # the app must be able to read why it was refused
    refused = await browser_api.client.get("/v1/users", headers={"Origin": APP})
    assert_error(refused, 401, "system:error:missing-token")
    assert refused.headers["access-control-allow-origin"] == APP
    foreign = await browser_api.request("GET", "/v1/users", headers={"Origin": "https://evil.example"})
    body = assert_error(foreign, 403, "system:error:permission")  # the application (here: the server) decides
    assert "https://evil.example" in body["detail"] and "PARLEY_CORS_ORIGINS" in body["detail"]
    assert "access-control-allow-origin" not in foreign.headers  # and the browser would not show it anyway
    assert foreign.headers["vary"] == "Origin"
    same = await browser_api.request("GET", "/v1/users", headers={"Origin": "http://parley.test"})
    assert same.status_code == 200  # the server's own origin
    plain = await browser_api.request("GET", "/v1/users")  # no Origin: not a browser, nothing added
    assert "access-control-allow-origin" not in plain.headers and "vary" not in plain.headers


async def test_the_default_allows_any_origin(api: Api) -> None:
    response = await api.client.options("/v1/conversations/CON-x/events",
                                        headers={**PREFLIGHT, "Origin": "http://localhost:3000"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def unique_origin(label: str) -> str:
    """The database is shared by this module's tests, and the applications' lists apply together before
    authentication: each test has origins of its own."""
    return f"https://{label}-{uuid.uuid4().hex[:8]}.example"


async def listed_application(store: Store, keys: KeyPair, *origins: str) -> Application:
    application = Application(str(uuid.uuid4()), "listed", keys.public_pem, iso(SystemClock().now()), origins)
    await store.insert_application(application)
    return application


async def user_names(api: Api) -> list[str]:
    return [user["name"] for user in (await api.ok("GET", "/v1/users"))["_embedded"]["users"]]


async def test_an_application_list_replaces_the_server_list(browser_api: Api, store: Store, keys: KeyPair) -> None:
    own = unique_origin("own")
    listed = Api(browser_api.client, keys, (await listed_application(store, keys, own)).id)
    allowed = await listed.request("POST", "/v1/users", json={"name": "ann"}, headers={"Origin": own})
    assert allowed.status_code == 201, allowed.text
    assert allowed.headers["access-control-allow-origin"] == own
    assert allowed.headers["access-control-allow-credentials"] == "true"
    # the server's list (APP) does not apply to an application with a list of its own
    refused = await listed.request("POST", "/v1/users", json={"name": "bob"}, headers={"Origin": APP})
    body = assert_error(refused, 403, "system:error:permission")
    assert body["detail"] == (f"The origin {APP} may not use this application: it is not in the application's "
                              "origins (parley app origins).")
    assert refused.headers["access-control-allow-origin"] == APP  # the browser may read why
    assert await user_names(listed) == ["ann"]  # the refused request changed nothing
    # the server's own origin stays allowed, as servers and other clients sending no Origin
    assert (await listed.request("GET", "/v1/users", headers={"Origin": "http://parley.test"})).status_code == 200
    assert (await listed.request("GET", "/v1/users")).status_code == 200


async def test_an_application_without_a_list_keeps_the_server_list(browser_api: Api, store: Store,
                                                                   keys: KeyPair) -> None:
    elsewhere = unique_origin("elsewhere")
    await listed_application(store, keys, elsewhere)
    served = await browser_api.request("POST", "/v1/users", json={"name": "cat"}, headers={"Origin": APP})
    assert served.status_code == 201, served.text
    assert served.headers["access-control-allow-origin"] == APP
    refused = await browser_api.request("POST", "/v1/users", json={"name": "dan"}, headers={"Origin": elsewhere})
    body = assert_error(refused, 403, "system:error:permission")
    assert body["detail"] == f"The origin {elsewhere} may not use this application: it is not in PARLEY_CORS_ORIGINS."
    # another application allows the origin: it gets CORS headers, so the browser shows the refusal
    assert refused.headers["access-control-allow-origin"] == elsewhere
    assert await user_names(browser_api) == ["cat"]


async def test_a_star_in_an_application_list_allows_any_origin(browser_api: Api, store: Store,
                                                                keys: KeyPair) -> None:
    application = await listed_application(store, keys, "*")
    anyone = Api(browser_api.client, keys, application.id)
    origin = unique_origin("anyone")
    try:
        response = await anyone.request("GET", "/v1/users", headers={"Origin": origin})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
    finally:  # it would allow every origin to every other test of the module's database
        await store.delete_application(application.id)


async def test_a_preflight_for_an_origin_only_an_application_allows_is_answered(browser_api: Api, store: Store,
                                                                                keys: KeyPair) -> None:
    origin = unique_origin("preflight")
    preflight = {**PREFLIGHT, "Origin": origin}
    assert_error(await browser_api.client.options("/v1/users", headers=preflight), 403, "system:error:permission")
    application = await listed_application(store, keys, "https://first.example", origin)
    answered = await browser_api.client.options("/v1/users", headers=preflight)  # key_cache_seconds=0: at once
    assert answered.status_code == 204
    assert answered.headers["access-control-allow-origin"] == origin
    assert answered.headers["access-control-allow-headers"] == "Authorization, Content-Type, x-custom"
    assert await store.set_application_origins(application.id, None)
    assert_error(await browser_api.client.options("/v1/users", headers=preflight), 403, "system:error:permission")


def test_origin_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_CORS_ORIGINS", raising=False)
    assert cors_origins_from_env() == ("*",)
    monkeypatch.setenv("PARLEY_CORS_ORIGINS", " https://a.example , http://localhost:3000/,")
    assert cors_origins_from_env() == ("https://a.example", "http://localhost:3000/")
    monkeypatch.setenv("PARLEY_CORS_ORIGINS", "")
    assert cors_origins_from_env() == ()
    with pytest.raises(ValueError, match="not an origin"):
        Origins(["https://a.example/path"])
    own = own_origin("parley.test", "http")
    assert own == "http://parley.test"
    only_own = Origins([], public_url="https://chat.example.com/base")
    assert only_own.allows("https://chat.example.com", own)
    assert only_own.allows("http://parley.test", own)  # the Host it was reached by
    assert not only_own.allows("https://other.example", own)
    assert not Origins(["*"]).allows("https://a.example\r\nX: y", own)  # never echoed
