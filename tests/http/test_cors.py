"""CORS on the REST paths, as a browser app on another origin needs it (reference client-wire-protocols.md §10)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from parley.api.cors import Origins, own_origin
from parley.app import build_app
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
    assert foreign.status_code == 200  # served (the token decides), but the browser will not show it
    assert "access-control-allow-origin" not in foreign.headers
    assert foreign.headers["vary"] == "Origin"
    plain = await browser_api.request("GET", "/v1/users")  # no Origin: not a browser, nothing added
    assert "access-control-allow-origin" not in plain.headers and "vary" not in plain.headers


async def test_the_default_allows_any_origin(api: Api) -> None:
    response = await api.client.options("/v1/conversations/CON-x/events",
                                        headers={**PREFLIGHT, "Origin": "http://localhost:3000"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


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
