"""Images: `POST /v1/image` (the IPS upload of In-App Messaging) and `/v3/media/{id}` (fetch and delete the
representations it returned).

The upload answers 200 (the clients check for exactly 200) with `{id, original, medium, thumbnail}`, each
representation `{id, url, type, size}`; the urls are absolute on parley's public URL, because the clients fetch
them as they are, with their own Bearer token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.api.http import imaging
from parley.api.http.common import Context, JSONResponse, empty, resource
from parley.domain.errors import DomainError, invalid
from parley.domain.limits import Limits
from parley.domain.media import REPRESENTATIONS, ImageOptions, MediaService, image_options
from parley.domain.models import Media

FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the three ratio fields
MAX_FIELD_BYTES = 1_024
# Decoding holds a whole bitmap in memory (up to 4 bytes per pixel): bound how many run at once.
CONCURRENT_DECODES = 2
CACHE_CONTROL = "private, max-age=31536000, immutable"  # a media id is never reused for other bytes


def image_too_large(limits: Limits) -> DomainError:
    return DomainError("http:error:request-too-large", f"The image is larger than {limits.max_image_bytes} bytes.")


async def read_upload(request: Request, limits: Limits) -> tuple[ImageOptions, bytes]:
    """The multipart form of an upload: its `file` and ratio fields. Oversize bodies are refused as they arrive."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise DomainError("http:error:unsupported-media-type", "Upload the image as multipart/form-data.")
    budget = limits.max_image_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > budget:
        raise image_too_large(limits)

    async def counted() -> AsyncGenerator[bytes, None]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > budget:
                raise image_too_large(limits)
            yield chunk

    try:
        form = await MultiPartParser(request.headers, counted(), max_files=1, max_fields=10,
                                     max_part_size=MAX_FIELD_BYTES).parse()
    except MultiPartException as exc:
        raise DomainError("media:error:bad-request", f"The multipart body is malformed: {exc.message}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid("file", '"file" (the image) is required')
        data = await upload.read()
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    finally:
        await form.close()
    if len(data) > limits.max_image_bytes:
        raise image_too_large(limits)
    if not data:
        raise invalid("file", '"file" is empty')
    return image_options(fields), data


def representations(base: str, image_id: str, items: Sequence[Media]) -> dict[str, Any]:
    by_kind = {item.kind: item for item in items}
    body: dict[str, Any] = {"id": image_id}
    for name, kind in REPRESENTATIONS:
        item = by_kind[kind]
        body[name] = {"id": item.id, "url": f"{base}/v3/media/{item.id}", "type": kind, "size": item.size}
    return body


def routes(ctx: Context, media: MediaService) -> list[Route]:
    decoding = asyncio.Semaphore(CONCURRENT_DECODES)

    async def upload(request: Request) -> Response:
        principal = await ctx.principal(request)  # before reading a possibly large body
        options, data = await read_upload(request, ctx.limits)
        async with decoding:
            made = await asyncio.to_thread(imaging.renditions, data, options, ctx.limits.max_image_pixels)
        image_id, items = await media.save_image(principal, made)
        return JSONResponse(representations(ctx.base_url(request), image_id, items))

    async def fetch(request: Request) -> Response:
        principal = await ctx.principal(request)
        item = await media.get(principal, request.path_params["media_id"])
        headers = {"etag": f'"{item.id}"', "cache-control": CACHE_CONTROL, "x-content-type-options": "nosniff"}
        if headers["etag"] in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(item.data, media_type=item.content_type, headers=headers)

    async def delete(request: Request) -> Response:
        principal = await ctx.principal(request)
        await media.delete(principal, request.path_params["media_id"])
        return empty()

    return [
        resource("/v1/image", POST=upload),
        resource("/v3/media/{media_id:id}", GET=fetch, DELETE=delete),
    ]
