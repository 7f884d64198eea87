"""The `media` table: uploaded images' representations, bytes included (see migration 0006)."""

from __future__ import annotations

from collections.abc import Sequence

from parley.domain.models import Media
from parley.store.backend import Backend

MEDIA_COLUMNS = "application_id, id, image_id, kind, content_type, data, created, created_by"


class SQLMedia:
    """`MediaStore` over SQL; mixed into `SQLStore`."""

    _backend: Backend

    async def insert_media(self, items: Sequence[Media]) -> None:
        async with self._backend.transaction() as db:
            for m in items:
                await db.execute(
                    f"INSERT INTO media ({MEDIA_COLUMNS}, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    m.application_id, m.id, m.image_id, m.kind, m.content_type, m.data, m.created, m.created_by,
                    m.size)

    async def media(self, application_id: str, media_id: str) -> Media | None:
        row = await self._backend.read().fetchrow(
            f"SELECT {MEDIA_COLUMNS} FROM media WHERE application_id = ? AND id = ?", application_id, media_id)
        if row is None:
            return None
        return Media(application_id=row[0], id=row[1], image_id=row[2], kind=row[3], content_type=row[4],
                     data=bytes(row[5]), created=row[6], created_by=row[7])

    async def delete_image(self, application_id: str, image_id: str) -> int:
        async with self._backend.transaction() as db:
            return await db.execute("DELETE FROM media WHERE application_id = ? AND image_id = ?",
                                    application_id, image_id)
