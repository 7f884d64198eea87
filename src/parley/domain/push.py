"""Push registration: the devices of a user and which conversations it wants pushes for.

The In-App Messaging Android SDK registers over the socket (`push:register` with the push token, after a login
that named its `device_id` and `device_type`); `push:subscribe` / `push:unsubscribe` record a per-conversation
preference. Sending the notifications is a later issue: it reads the devices and preferences stored here.
"""

from __future__ import annotations

from typing import Any

from parley.domain.access import readable_conversation
from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, InvalidParameter, forbidden
from parley.domain.limits import Limits
from parley.domain.models import Device, User
from parley.domain.ports import Store
from parley.domain.principal import Principal

DEVICE_TYPES = ("android", "ios")
MAX_DEVICE_ID_CHARS = 200
MAX_TOKEN_CHARS = 4_096  # FCM tokens are ~160 characters, APNs tokens 64 hex digits


def device_not_found() -> DomainError:
    return DomainError("device:error:not-found", "Device does not exist, or you do not have access.")


def _invalid(name: str, reason: str) -> DomainError:
    return DomainError("device:error:invalid", reason, [InvalidParameter(name, reason)])


def _text(value: Any, name: str, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, f'"{name}" must be a non-empty string')
    if len(value) > max_chars or "\x00" in value:
        raise _invalid(name, f'"{name}" must be at most {max_chars} characters, without NUL')
    return value


def _device_type(value: Any) -> str:
    # Only the Android SDK registers over the socket, and its login says so; a login without a type is Android's.
    if value is None:
        return "android"
    if isinstance(value, str) and value.lower() in DEVICE_TYPES:
        return value.lower()
    raise _invalid("device_type", f'"device_type" must be one of [{", ".join(DEVICE_TYPES)}]')


def _user(principal: Principal) -> User:
    if principal.user is None:
        raise forbidden("Devices belong to users: use a user token.")
    return principal.user


class PushService:
    def __init__(self, store: Store, clock: Clock, limits: Limits) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits

    async def register(self, principal: Principal, device_id: Any, device_type: Any, token: Any) -> Device:
        user = _user(principal)
        device_id = _text(device_id, "device_id", MAX_DEVICE_ID_CHARS)
        kind, token = _device_type(device_type), _text(token, "device_token", MAX_TOKEN_CHARS)
        now = iso(self._clock.now())
        existing = await self._store.device(principal.application_id, device_id)
        device = Device(principal.application_id, device_id, user.id, kind, token,
                        existing.created if existing else now, now)
        await self._store.save_device(device, self._limits.max_devices_per_user)
        return device

    async def unregister(self, principal: Principal, device_id: Any) -> None:
        """A user removes its own devices; someone else's device id is answered as unknown."""
        user = _user(principal)
        device = await self._store.device(principal.application_id,
                                          _text(device_id, "device_id", MAX_DEVICE_ID_CHARS))
        if device is None or device.user_id != user.id:
            raise device_not_found()
        await self._store.delete_device(principal.application_id, device.id)

    async def subscribe(self, principal: Principal, conversation_id: str, subscribed: bool) -> None:
        """Pushes for one conversation on (or off), for all the user's devices; the conversation must be one the
        user may read."""
        user = _user(principal)
        await readable_conversation(self._store, principal, conversation_id)
        await self._store.set_push_subscription(principal.application_id, user.id, conversation_id, subscribed,
                                                iso(self._clock.now()))
