"""The `devices` and `push_subscriptions` tables (see migration 0006)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from parley.domain.errors import DomainError
from parley.domain.models import Device
from parley.store.backend import Backend, Row

DEVICE_COLUMNS = "application_id, id, user_id, device_type, token, created, updated"


def _device(row: Row) -> Device:
    return Device(application_id=row[0], id=row[1], user_id=row[2], device_type=row[3], token=row[4],
                  created=row[5], updated=row[6])


class SQLDevices:
    """`DeviceStore` over SQL; mixed into `SQLStore`."""

    _backend: Backend

    async def save_device(self, device: Device, max_per_user: int) -> None:
        d = device
        async with self._backend.transaction() as db:
            others = await db.fetchrow(
                "SELECT COUNT(*) FROM devices WHERE application_id = ? AND user_id = ? AND id <> ?",
                d.application_id, d.user_id, d.id)
            if others is not None and int(others[0]) >= max_per_user:
                raise DomainError("device:error:max-device-limit",
                                  f"A user may register at most {max_per_user} devices.")
            # A push token reaches one installation: an older device row with it (a reinstall) would get
            # every notification twice.
            await db.execute("DELETE FROM devices WHERE application_id = ? AND token = ? AND id <> ?",
                             d.application_id, d.token, d.id)
            await db.execute(
                f"INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (application_id, id) DO UPDATE SET user_id = excluded.user_id, "
                "device_type = excluded.device_type, token = excluded.token, updated = excluded.updated",
                d.application_id, d.id, d.user_id, d.device_type, d.token, d.created, d.updated)

    async def device(self, application_id: str, device_id: str) -> Device | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE application_id = ? AND id = ?", application_id, device_id)
        return _device(row) if row else None

    async def devices_of_user(self, application_id: str, user_id: str) -> Sequence[Device]:
        found = await self._backend.read().fetch(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE application_id = ? AND user_id = ? ORDER BY created, id",
            application_id, user_id)
        return [_device(row) for row in found]

    async def delete_device(self, application_id: str, device_id: str) -> bool:
        async with self._backend.transaction() as db:
            return await db.execute("DELETE FROM devices WHERE application_id = ? AND id = ?",
                                    application_id, device_id) > 0

    async def set_push_subscription(
        self, application_id: str, user_id: str, conversation_id: str, subscribed: bool, when: str
    ) -> None:
        async with self._backend.transaction() as db:
            await db.execute(
                "INSERT INTO push_subscriptions (application_id, user_id, conversation_id, subscribed, updated) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE SET "
                "subscribed = excluded.subscribed, updated = excluded.updated",
                application_id, user_id, conversation_id, subscribed, when)

    async def push_subscriptions(self, application_id: str, user_id: str) -> Mapping[str, bool]:
        found = await self._backend.read().fetch(
            "SELECT conversation_id, subscribed FROM push_subscriptions WHERE application_id = ? AND user_id = ?",
            application_id, user_id)
        return {row[0]: bool(row[1]) for row in found}
