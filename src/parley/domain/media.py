"""Images (the IPS of In-App Messaging): an upload becomes three representations (original, medium, thumbnail)
that any token of the same application may fetch; the uploader or an admin may delete them.

Decoding and resizing is an adapter's job (`api/http/imaging.py`); this module checks the options, stores what the
adapter made and decides who may read or delete it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parley.domain.clock import Clock, iso
from parley.domain.errors import DomainError, forbidden
from parley.domain.models import Media
from parley.domain.ports import Store
from parley.domain.principal import Principal
from parley.domain.validate import optional_int

# (representation name in the upload response, its `type`): the order the clients list them in
REPRESENTATIONS = (("original", "ORIGINAL"), ("medium", "MEDIUM"), ("thumbnail", "THUMBNAIL"))


@dataclass(frozen=True)
class ImageOptions:
    """The upload's form fields, as the clients send them (`sendImage` defaults 100 / 50 / 30)."""

    quality: int = 100  # 0 = most compression, 100 = best quality
    medium_ratio: int = 50  # percent of the original's width and height
    thumbnail_ratio: int = 30


@dataclass(frozen=True)
class Rendition:
    """One encoded representation, as the imaging adapter made it."""

    kind: str  # ORIGINAL, MEDIUM or THUMBNAIL
    content_type: str
    data: bytes


def image_options(fields: Mapping[str, str]) -> ImageOptions:
    defaults = ImageOptions()
    return ImageOptions(
        quality=_ratio(fields, "quality_ratio", 0, defaults.quality),
        medium_ratio=_ratio(fields, "medium_size_ratio", 1, defaults.medium_ratio),
        thumbnail_ratio=_ratio(fields, "thumbnail_size_ratio", 1, defaults.thumbnail_ratio),
    )


def _ratio(fields: Mapping[str, str], name: str, low: int, default: int) -> int:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = optional_int({name: raw}, name, low, 100)
    assert value is not None
    return value


def media_not_found() -> DomainError:
    return DomainError("media:error:not-found", "Media does not exist, or you do not have access.")


class MediaService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def save_image(self, principal: Principal, renditions: Sequence[Rendition]) -> tuple[str, list[Media]]:
        """Store an upload's representations; returns the image id and the stored items (in the order given)."""
        image_id = str(uuid.uuid4())
        now = iso(self._clock.now())
        uploader = principal.user.id if principal.user else None
        items = [Media(principal.application_id, str(uuid.uuid4()), image_id, r.kind, r.content_type, r.data, now,
                       uploader) for r in renditions]
        await self._store.insert_media(items)
        return image_id, items

    async def get(self, principal: Principal, media_id: str) -> Media:
        """Any token of the application may fetch (the clients fetch what others posted, with their own token)."""
        media = await self._store.media(principal.application_id, media_id)
        if media is None:
            raise media_not_found()
        return media

    async def delete(self, principal: Principal, media_id: str) -> None:
        """Deleting any representation deletes the whole image (the clients delete `original.url`)."""
        media = await self.get(principal, media_id)
        if principal.user is not None and media.created_by != principal.user.id:
            raise forbidden("Only the uploader or an admin may delete an image.")
        await self._store.delete_image(principal.application_id, media.image_id)
