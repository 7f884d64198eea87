"""The media and push-device parts of the Store contract, on every backend."""

from __future__ import annotations

import os

import pytest

from parley.domain.errors import DomainError
from parley.domain.models import Application, Device, Media
from parley.domain.ports import Store
from parley.store.backend import UniqueViolation
from tests.conftest import KeyPair, add_application
from tests.contract.test_store import new_user, now, setup_chat


def image(application: Application, image_id: str, data: bytes, user_id: str | None = None) -> list[Media]:
    return [Media(application.id, f"{image_id}-{kind}", image_id, kind, "image/jpeg", data[:size], now(), user_id)
            for kind, size in (("ORIGINAL", len(data)), ("MEDIUM", 100), ("THUMBNAIL", 10))]


def device(application: Application, device_id: str, user_id: str, token: str) -> Device:
    return Device(application.id, device_id, user_id, "android", token, now(), now())


async def test_media_round_trip_their_bytes_and_delete_by_image(store: Store, application: Application) -> None:
    data = b"\x00\xff" + os.urandom(3_000_000)  # NUL bytes, and megabytes
    items = image(application, "img-1", data, "USR-1")
    await store.insert_media(items)
    await store.insert_media(image(application, "img-2", b"other bytes " * 20))
    for item in items:
        assert await store.media(application.id, item.id) == item
    assert (await store.media(application.id, "img-1-ORIGINAL")).data == data  # type: ignore[union-attr]
    assert await store.delete_image(application.id, "img-1") == 3
    assert [await store.media(application.id, item.id) for item in items] == [None, None, None]
    assert await store.media(application.id, "img-2-MEDIUM") is not None  # another image is untouched
    assert await store.delete_image(application.id, "img-1") == 0


async def test_media_are_scoped_by_application_and_go_with_it(
        store: Store, application: Application, other_keys: KeyPair) -> None:
    other = await add_application(store, other_keys, "other")
    await store.insert_media(image(application, "mine", b"x" * 200))
    assert await store.media(other.id, "mine-ORIGINAL") is None
    assert await store.delete_image(other.id, "mine") == 0
    assert await store.media(application.id, "mine-ORIGINAL") is not None
    await store.delete_application(application.id)
    assert await store.media(application.id, "mine-ORIGINAL") is None


async def test_one_representation_failing_stores_none_of_the_image(store: Store, application: Application) -> None:
    await store.insert_media(image(application, "first", b"y" * 200))
    clash = image(application, "second", b"z" * 200)
    clash[2] = Media(application.id, "first-ORIGINAL", "second", "THUMBNAIL", "image/jpeg", b"z", now(), None)
    with pytest.raises(UniqueViolation):
        await store.insert_media(clash)
    assert await store.media(application.id, "second-ORIGINAL") is None


async def test_devices_register_move_between_users_and_keep_tokens_unique(
        store: Store, application: Application) -> None:
    alice = await store.insert_user(new_user(application, "alice"))
    bob = await store.insert_user(new_user(application, "bob"))
    phone = device(application, "phone", alice.id, "token-1")
    await store.save_device(phone, 5)
    assert await store.device(application.id, "phone") == phone
    assert await store.devices_of_user(application.id, alice.id) == [phone]
    # the same device registered again: a new token, and now bob's
    moved = Device(application.id, "phone", bob.id, "android", "token-2", phone.created, now())
    await store.save_device(moved, 5)
    assert await store.device(application.id, "phone") == moved
    assert await store.devices_of_user(application.id, alice.id) == []
    # a reinstall: a new device id with a token another device had; the old row goes
    reinstalled = device(application, "phone-2", bob.id, "token-2")
    await store.save_device(reinstalled, 5)
    assert await store.devices_of_user(application.id, bob.id) == [reinstalled]
    assert await store.delete_device(application.id, "phone-2") is True
    assert await store.delete_device(application.id, "phone-2") is False
    assert await store.device(application.id, "phone-2") is None


async def test_devices_per_user_are_limited(store: Store, application: Application) -> None:
    alice = await store.insert_user(new_user(application, "alice"))
    for n in range(2):
        await store.save_device(device(application, f"d{n}", alice.id, f"t{n}"), 2)
    with pytest.raises(DomainError) as caught:
        await store.save_device(device(application, "d2", alice.id, "t2"), 2)
    assert caught.value.code == "device:error:max-device-limit"
    assert await store.device(application.id, "d2") is None
    await store.save_device(device(application, "d1", alice.id, "t1-new"), 2)  # updating one is not a new one
    assert [d.token for d in await store.devices_of_user(application.id, alice.id)] == ["t0", "t1-new"]


async def test_devices_are_scoped_by_application(
        store: Store, application: Application, other_keys: KeyPair) -> None:
    other = await add_application(store, other_keys, "other")
    alice = await store.insert_user(new_user(application, "alice"))
    carol = await store.insert_user(new_user(other, "carol"))
    await store.save_device(device(application, "same-id", alice.id, "same-token"), 5)
    await store.save_device(device(other, "same-id", carol.id, "same-token"), 5)  # neither replaces the other
    assert (await store.device(application.id, "same-id")).user_id == alice.id  # type: ignore[union-attr]
    assert (await store.device(other.id, "same-id")).user_id == carol.id  # type: ignore[union-attr]
    assert await store.devices_of_user(other.id, alice.id) == []
    assert await store.delete_device(other.id, "same-id") is True
    assert await store.device(application.id, "same-id") is not None


async def test_push_subscriptions_are_one_preference_per_user_and_conversation(
        store: Store, application: Application) -> None:
    conversation, user, _ = await setup_chat(store, application)
    other, _, _ = await setup_chat(store, application, "other")
    assert await store.push_subscriptions(application.id, user.id) == {}
    await store.set_push_subscription(application.id, user.id, conversation.id, True, now())
    await store.set_push_subscription(application.id, user.id, other.id, True, now())
    await store.set_push_subscription(application.id, user.id, other.id, False, now())
    assert await store.push_subscriptions(application.id, user.id) == {conversation.id: True, other.id: False}
