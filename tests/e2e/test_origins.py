"""Per-application browser origins against a real `parley serve`: the server's list (PARLEY_CORS_ORIGINS) is
restricted, one application has a list of its own, another has another, and one has none. The origins reach the
REST answers, the `/v2/rtc` handshake and the `/rtc` login, and a `parley app origins` run by another process
reaches the running server within PARLEY_KEY_CACHE_SECONDS."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.e2e.conftest import Server, parley, postgres_database, running_server

SERVER_LISTED = "https://server-listed.example"  # PARLEY_CORS_ORIGINS
WEB = "https://web.example"  # the `web` application's own list
OTHER = "https://other.example"  # the `other` application's own list
NOBODY = "https://nobody.example"  # in no list
KEY_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class App:
    server: Server
    id: str
    private_key: Path

    def token(self, sub: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"application_id": self.id, "iat": now, "exp": now + 600}
        if sub is not None:
            claims["sub"] = sub
        return jwt.encode(claims, self.private_key.read_text(), algorithm="RS256")

    def request(self, method: str, path: str, origin: str | None = None, body: Any = None,
                sub: str | None = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bearer {self.token(sub)}", "Content-Type": "application/json"}
        return send(self.server, method, path, origin, headers, body)


@dataclass(frozen=True)
class Deployment:
    server: Server
    plain: App  # no list of its own: the server's applies
    web: App
    other: App


def send(server: Server, method: str, path: str, origin: str | None, headers: dict[str, str],
         body: Any = None) -> tuple[int, dict[str, str], Any]:
    if origin is not None:
        headers = {**headers, "Origin": origin}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, answer, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer, raw = error.code, dict(error.headers), error.read()
    return status, {k.lower(): v for k, v in answer.items()}, json.loads(raw) if raw else None


def create_app(server: Server, workdir: Path, name: str, *origins: str) -> App:
    key = workdir / f"{name}.key"
    args = [arg for origin in origins for arg in ("--origin", origin)]
    created = parley("app", "create", "--name", name, "--private-key-out", str(key), *args, "--json",
                     *server.storage)
    assert created.returncode == 0, created.stderr
    application = json.loads(created.stdout)
    assert application["origins"] == (list(origins) or None)
    return App(server, application["id"], key)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"parley-origins-{request.param}")
    settings = {"PARLEY_CORS_ORIGINS": SERVER_LISTED, "PARLEY_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS)}
    if request.param == "sqlite":
        with running_server("sqlite", workdir, None, settings) as server:
            yield deployed(server, workdir)
        return
    with postgres_database() as url, running_server("postgresql", workdir, url, settings) as server:
        yield deployed(server, workdir)


def deployed(server: Server, workdir: Path) -> Deployment:
    return Deployment(server, App(server, server.app_id, server.private_key), create_app(server, workdir, "web", WEB),
                      create_app(server, workdir, "other", OTHER))


def preflight(server: Server, origin: str) -> tuple[int, dict[str, str], Any]:
    return send(server, "OPTIONS", "/v1/users", origin,
                {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})


def assert_refused(answer: tuple[int, dict[str, str], Any], origin: str) -> None:
    status, _, body = answer
    assert status == 403, body
    assert body["code"] == "system:error:permission"
    assert origin in body["detail"]


def test_rest_answers_follow_the_calling_application(deployment: Deployment) -> None:
    server, plain, web = deployment.server, deployment.plain, deployment.web
    status, headers, _ = preflight(server, WEB)  # before any token: an application's list is enough
    assert status == 204 and headers["access-control-allow-origin"] == WEB
    assert preflight(server, SERVER_LISTED)[0] == 204
    assert_refused(preflight(server, NOBODY), "origin")  # "This origin may not use the API ..."

    status, headers, body = web.request("POST", "/v1/users", WEB, {"name": "wes"})
    assert status == 201, body
    assert headers["access-control-allow-origin"] == WEB and headers["access-control-allow-credentials"] == "true"
    assert_refused(web.request("POST", "/v1/users", SERVER_LISTED, {"name": "sam"}), SERVER_LISTED)
    assert_refused(web.request("POST", "/v1/users", OTHER, {"name": "oli"}), OTHER)
    assert [u["name"] for u in web.request("GET", "/v1/users")[2]["_embedded"]["users"]] == ["wes"]

    assert plain.request("GET", "/v1/users", SERVER_LISTED)[0] == 200  # no list of its own: the server's
    assert_refused(plain.request("GET", "/v1/users", WEB), WEB)
    assert plain.request("GET", "/v1/users", server.url)[0] == 200  # the server's own origin, always


def v2_socket(server: Server, token: str, origin: str) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + f"/v2/rtc/?token={token}&EIO=4&transport=websocket"
    return connect(url, origin=Origin(origin), open_timeout=5)


def v2_session_answer(socket: ClientConnection) -> tuple[str, dict[str, Any]]:
    assert str(socket.recv(timeout=5)).startswith("0{")
    socket.send("40")
    assert str(socket.recv(timeout=5)).startswith('40{"sid":')
    frame = str(socket.recv(timeout=5))
    assert frame.startswith("42"), frame
    name, payload = json.loads(frame[2:])
    return name, payload


def test_v2_handshake_follows_the_token_application(deployment: Deployment) -> None:
    web = deployment.web
    assert web.request("POST", "/v1/users", body={"name": "vic"})[0] == 201
    token = web.token("vic")
    with v2_socket(web.server, token, WEB) as socket:
        name, payload = v2_session_answer(socket)
        assert name == "session:success" and payload["body"]["name"] == "vic"
    with v2_socket(web.server, token, OTHER) as socket:  # another application's origin: refused as a bad token is
        name, payload = v2_session_answer(socket)
        assert name == "system:error:permission"
        assert payload["code"] == "system:error:permission" and OTHER in payload["description"]
        assert str(socket.recv(timeout=5)) == "41"  # socket.io DISCONNECT
    with pytest.raises(InvalidStatus) as refused, v2_socket(web.server, token, NOBODY):
        pass  # an origin in no list: refused before any token is read
    assert refused.value.response.status_code == 403


def rtc_login(server: Server, token: str, origin: str) -> tuple[str, dict[str, Any]]:
    url = server.url.replace("http://", "ws://") + "/rtc/?EIO=3&transport=websocket"
    with connect(url, origin=Origin(origin), open_timeout=5) as socket:
        assert str(socket.recv(timeout=5)).startswith("0{")
        assert socket.recv(timeout=5) == "40"
        socket.send("42" + json.dumps(["session:login", {"tid": "login", "body": {"token": token}}]))
        frame = str(socket.recv(timeout=5))
    assert frame.startswith("42"), frame
    name, reply = json.loads(frame[2:])
    return name, reply


def test_rtc_login_follows_the_token_application(deployment: Deployment) -> None:
    web = deployment.web
    assert web.request("POST", "/v1/users", body={"name": "rex"})[0] == 201
    name, reply = rtc_login(web.server, web.token("rex"), WEB)
    assert name == "session:success" and reply["rid"] == "login" and reply["body"]["name"] == "rex"
    name, reply = rtc_login(web.server, web.token("rex"), OTHER)
    assert name == "session:error:invalid-token"  # the login refusal the legacy SDKs know
    assert reply["rid"] == "login" and OTHER in reply["description"]


def test_a_cli_change_reaches_the_running_server_within_the_ttl(deployment: Deployment, tmp_path: Path) -> None:
    moving = create_app(deployment.server, tmp_path, "moving", "https://before.example")
    after = "https://after.example"
    assert moving.request("GET", "/v1/users", "https://before.example")[0] == 200  # its list is cached now
    assert_refused(preflight(deployment.server, after), "origin")  # and so is the applications' union
    changed = parley("app", "origins", moving.id, "--origin", after, "--json", *deployment.server.storage)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["origins"] == [after]
    time.sleep(KEY_CACHE_SECONDS + 0.5)
    assert preflight(deployment.server, after)[0] == 204
    assert moving.request("GET", "/v1/users", after)[0] == 200
    assert_refused(moving.request("GET", "/v1/users", "https://before.example"), "https://before.example")
