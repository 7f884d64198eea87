"""The Authenticator's caches: what a token sees when its application or user changes behind it."""

from __future__ import annotations

import time
import uuid

import pytest

from parley.api.auth import Authenticator
from parley.api.cors import OriginPolicy, Origins
from parley.domain.clock import SystemClock, iso
from parley.domain.errors import DomainError
from parley.domain.models import Application, User
from parley.domain.ports import Store
from tests.conftest import KeyPair, mint_token


def header(keys: KeyPair, application: Application, sub: str | None = None) -> str:
    return f"Bearer {mint_token(keys, application.id, sub)}"


async def add_user(store: Store, application: Application, name: str) -> User:
    user = User(application.id, f"USR-{name}", name, None, None, {}, {}, iso(SystemClock().now()), None)
    return await store.insert_user(user)


async def test_a_cached_user_serves_until_the_ttl_then_the_store_decides(
        store: Store, application: Application, keys: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    authenticator = Authenticator(store, key_cache_seconds=5)
    alice = await add_user(store, application, "alice")
    token = header(keys, application, "alice")
    principal = await authenticator.principal(token, "GET", "/v1/users")
    assert principal.user is not None and principal.user.id == alice.id

    assert await store.delete_user(application.id, alice.id, iso(SystemClock().now()))
    still = await authenticator.principal(token, "GET", "/v1/users")  # within the TTL: the cached user
    assert still.user is not None and still.user.id == alice.id

    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    with pytest.raises(DomainError) as caught:
        await authenticator.principal(token, "GET", "/v1/users")
    assert caught.value.code == "user:error:not-found"


async def test_a_deleted_application_stops_its_verified_tokens_after_the_ttl(
        store: Store, application: Application, keys: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    authenticator = Authenticator(store, key_cache_seconds=5)
    token = header(keys, application)
    assert (await authenticator.principal(token, "GET", "/v1/users")).is_admin
    assert await store.delete_application(application.id)
    assert (await authenticator.principal(token, "GET", "/v1/users")).is_admin  # cached key

    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    with pytest.raises(DomainError) as caught:
        await authenticator.principal(token, "GET", "/v1/users")
    assert caught.value.code == "system:error:invalid-token"


async def test_a_zero_ttl_reads_through_every_time(store: Store, application: Application, keys: KeyPair) -> None:
    authenticator = Authenticator(store, key_cache_seconds=0)
    bob = await add_user(store, application, "bob")
    token = header(keys, application, "bob")
    assert (await authenticator.principal(token, "GET", "/v1/users")).user == bob
    assert await store.delete_user(application.id, bob.id, iso(SystemClock().now()))
    with pytest.raises(DomainError) as caught:
        await authenticator.principal(token, "GET", "/v1/users")
    assert caught.value.code == "user:error:not-found"


async def test_a_changed_origin_list_applies_after_the_ttl(
        store: Store, application: Application, keys: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """`parley app origins` changes the list in another process: preflights (the union of the applications'
    lists) and authenticated requests (the application's own list) follow within the TTL, not before."""
    origin = f"https://{uuid.uuid4().hex[:8]}.example"
    policy = OriginPolicy(Origins(["https://server.example"]), ttl=5, store=store)
    authenticator = Authenticator(store, key_cache_seconds=5, origins=policy.server)
    token = header(keys, application)
    assert await policy.allows(origin, None) is False
    with pytest.raises(DomainError) as caught:
        await authenticator.principal(token, "GET", "/v1/users", origin)
    assert caught.value.code == "system:error:permission"

    assert await store.set_application_origins(application.id, (origin,))
    assert policy.cached(origin, None) is False  # within the TTL: what was read
    assert await policy.allows(origin, None) is False
    with pytest.raises(DomainError):
        await authenticator.principal(token, "GET", "/v1/users", origin)

    later = time.monotonic() + 6
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert policy.cached(origin, None) is None  # due to be re-read
    assert await policy.allows(origin, None) is True
    assert (await authenticator.principal(token, "GET", "/v1/users", origin)).is_admin
    with pytest.raises(DomainError):  # the server's list no longer applies to this application
        await authenticator.principal(token, "GET", "/v1/users", "https://server.example")
