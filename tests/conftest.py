"""Shared fixtures: key pairs, token minting, stores on SQLite and PostgreSQL, the ASGI app over a store.

PostgreSQL tests run whenever the server answers on 127.0.0.1:5432; CI sets PARLEY_REQUIRE_SERVICES=1 so that a
missing service fails instead of skipping. Start it locally with:
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
"""

from __future__ import annotations

import functools
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parley.app import build_app, open_store
from parley.domain.clock import SystemClock, iso
from parley.domain.models import Application
from parley.domain.ports import Store
from parley.settings import Settings

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


def service_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int, how: str) -> None:
    if service_answers(host, port):
        return
    message = f"{name} does not answer on {host}:{port}; start it with: {how}"
    if os.environ.get("PARLEY_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


def require_postgres() -> None:
    require_service("PostgreSQL", PG_HOST, PG_PORT,
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


async def fresh_postgres_database() -> str:
    import asyncpg

    name = f"parley_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class KeyPair:
    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="session")
def keys() -> KeyPair:
    return KeyPair()


@pytest.fixture(scope="session")
def other_keys() -> KeyPair:
    return KeyPair()


Mint = Callable[..., str]


@functools.cache
def private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def mint_token(keys: KeyPair, application_id: str, sub: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"application_id": application_id, "iat": now, "jti": str(uuid.uuid4()),
                               "exp": now + 900}
    if sub is not None:
        payload["sub"] = sub
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, private_key(keys.private_pem), algorithm="RS256")  # parsing a PEM costs ~50 ms


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database of each kind per test module (creating and migrating one costs ~0.5 s). Tests stay
    independent because each gets a fresh application (tenant) from the `application` fixture."""
    import asyncio

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'parley.db'}"
        return
    require_postgres()
    url = asyncio.run(fresh_postgres_database())
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(url))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # key_cache_seconds=0: a deleted application's tokens stop working at once, which tests check
    return Settings(data_dir=tmp_path, database_url=database_url, key_cache_seconds=0)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await open_store(settings)
    try:
        yield opened
    finally:
        await opened.close()


async def add_application(store: Store, keys: KeyPair, name: str = "test") -> Application:
    application = Application(str(uuid.uuid4()), name, keys.public_pem, iso(SystemClock().now()))
    await store.insert_application(application)
    return application


@pytest.fixture
async def application(store: Store, keys: KeyPair) -> Application:
    return await add_application(store, keys)


class Api:
    """An HTTP client for one application, with admin and user tokens."""

    def __init__(self, client: httpx.AsyncClient, keys: KeyPair, application_id: str) -> None:
        self.client = client
        self.keys = keys
        self.application_id = application_id

    def token(self, sub: str | None = None, **claims: Any) -> str:
        return mint_token(self.keys, self.application_id, sub, **claims)

    def headers(self, sub: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, **claims)}"}

    async def request(self, method: str, path: str, *, sub: str | None = None, json: Any = None,
                      **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(sub), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, json=json, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        assert response.status_code == expected, response.text
        return response.json() if response.content else None

    # shortcuts that set up state
    async def user(self, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok("POST", "/v1/users", 201, json={"name": name, **fields})
        return result

    async def conversation(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": name, **fields} if name else fields
        result: dict[str, Any] = await self.ok("POST", "/v1/conversations", 201, json=body)
        return result

    async def member(self, conversation_id: str, user_name: str, state: str = "joined",
                     sub: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok(
            "POST", f"/v1/conversations/{conversation_id}/members", 201, sub=sub,
            json={"state": state, "user": {"name": user_name}, "channel": {"type": "app"}})
        return result

    async def text(self, conversation_id: str, member_id: str, text: str, sub: str | None = None
                   ) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok(
            "POST", f"/v1/conversations/{conversation_id}/events", 201, sub=sub,
            json={"type": "message", "from": member_id, "body": {"message_type": "text", "text": text}})
        return result


@pytest.fixture
async def api(store: Store, settings: Settings, application: Application, keys: KeyPair) -> AsyncIterator[Api]:
    app = build_app(store, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as client:
        yield Api(client, keys, application.id)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["type"] == f"https://developer.nexmo.com/api/conversation#{code}"
    for key in ("title", "detail", "instance"):
        assert isinstance(body[key], str) and body[key], body
    return body
