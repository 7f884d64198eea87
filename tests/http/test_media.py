"""Images: `POST /v1/image` (the IPS upload) and `GET`/`DELETE /v3/media/{id}`."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from parley.app import build_app
from parley.domain.limits import Limits
from parley.domain.ports import Store
from parley.settings import Settings
from tests.conftest import Api, KeyPair, add_application, assert_error, mint_token

MEDIA_URL = re.compile(r"^http://parley\.test/v3/media/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def picture(size: tuple[int, int] = (200, 100), mode: str = "RGB", fmt: str = "JPEG", **save: Any) -> bytes:
    colour: Any = (200, 30, 30, 128) if mode == "RGBA" else "red"
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


async def upload(api: Api, data: bytes, *, sub: str | None = "alice", filename: str = "a.jpg",
                 fields: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    return await api.request("POST", "/v1/image", sub=sub, files={"file": (filename, data, "image/jpeg")},
                             data=fields or {}, **kwargs)


async def fetch(api: Api, url: str, sub: str | None = "alice", **kwargs: Any) -> httpx.Response:
    return await api.request("GET", url, sub=sub, **kwargs)


def opened(response: httpx.Response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


async def test_upload_makes_three_representations_that_any_user_of_the_application_fetches(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    uploaded = await upload(api, picture((200, 100)), fields={
        "quality_ratio": "100", "medium_size_ratio": "50", "thumbnail_size_ratio": "30"})
    assert uploaded.status_code == 200, uploaded.text  # exactly 200: the clients check for it
    body = uploaded.json()
    assert set(body) == {"id", "original", "medium", "thumbnail"}
    expected = {"original": ("ORIGINAL", (200, 100)), "medium": ("MEDIUM", (100, 50)),
                "thumbnail": ("THUMBNAIL", (60, 30))}
    ids = set()
    for name, (kind, size) in expected.items():
        representation = body[name]
        assert set(representation) == {"id", "url", "type", "size"}
        assert representation["type"] == kind
        assert MEDIA_URL.match(representation["url"]) and representation["url"].endswith(representation["id"])
        ids.add(representation["id"])
        got = await fetch(api, representation["url"], sub="bob")  # another user, with their own token
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert got.headers["etag"] == f'"{representation["id"]}"'
        assert len(got.content) == representation["size"] == int(got.headers["content-length"])
        assert (opened(got).format, opened(got).size) == ("JPEG", size)
        again = await fetch(api, representation["url"], headers={"If-None-Match": got.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
    assert len(ids | {body["id"]}) == 4
    admin = await fetch(api, body["thumbnail"]["url"], sub=None)
    assert admin.status_code == 200
    head = await api.request("HEAD", body["original"]["url"])
    assert (head.status_code, head.content, head.headers["content-type"]) == (200, b"", "image/jpeg")


async def test_defaults_ratios_and_formats(api: Api) -> None:
    await api.user("alice")
    # no ratio fields: 100 / 50 / 30, as `sendImage` sends them
    body = (await upload(api, picture((400, 200)))).json()
    sizes = [opened(await fetch(api, body[n]["url"])).size for n in ("original", "medium", "thumbnail")]
    assert sizes == [(400, 200), (200, 100), (120, 60)]
    # other ratios; at least one pixel however small
    body = (await upload(api, picture((400, 200)), fields={"medium_size_ratio": "25", "thumbnail_size_ratio": "1",
                                                           "quality_ratio": "0"})).json()
    sizes = [opened(await fetch(api, body[n]["url"])).size for n in ("original", "medium", "thumbnail")]
    assert sizes == [(400, 200), (100, 50), (4, 2)]
    # transparency stays: PNG representations
    body = (await upload(api, picture((50, 50), "RGBA", "PNG"), filename="a.png")).json()
    thumbnail = await fetch(api, body["thumbnail"]["url"])
    assert thumbnail.headers["content-type"] == "image/png"
    assert (opened(thumbnail).mode, opened(thumbnail).size) == ("RGBA", (15, 15))
    # so does a colour-key transparency (a PNG tRNS chunk), while 16-bit grey and CMYK become RGB JPEG
    for image, fmt, save, expected in ((Image.new("RGB", (10, 10)), "PNG", {"transparency": (0, 0, 0)}, "image/png"),
                                       (Image.new("I;16", (10, 10), 999), "PNG", {}, "image/jpeg"),
                                       (Image.new("CMYK", (10, 10)), "JPEG", {}, "image/jpeg")):
        out = io.BytesIO()
        image.save(out, fmt, **save)
        body = (await upload(api, out.getvalue())).json()
        original = await fetch(api, body["original"]["url"])
        assert original.headers["content-type"] == expected, (image.mode, fmt)
        assert opened(original).mode == ("RGBA" if expected == "image/png" else "RGB")
    # other formats become JPEG: a GIF, a BMP and a WebP
    for fmt in ("GIF", "BMP", "WEBP"):
        body = (await upload(api, picture((20, 10), fmt=fmt), filename=f"a.{fmt.lower()}")).json()
        original = await fetch(api, body["original"]["url"])
        assert (original.headers["content-type"], opened(original).size) == ("image/jpeg", (20, 10)), fmt


async def test_the_exif_orientation_is_applied_and_metadata_dropped(api: Api) -> None:
    await api.user("alice")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the camera's 200x100 shows as 100x200
    exif[0x010F] = "PhoneMaker"
    body = (await upload(api, picture((200, 100), exif=exif.tobytes()))).json()
    original = opened(await fetch(api, body["original"]["url"]))
    assert original.size == (100, 200)
    assert dict(original.getexif()) == {}


async def test_bad_uploads_get_the_api_error_format(api: Api) -> None:
    await api.user("alice")
    refused = await upload(api, b"just some text", filename="a.txt")
    assert_error(refused, 400, "media:error:bad-request")
    truncated = picture((300, 300))[:200]
    assert_error(await upload(api, truncated), 400, "media:error:bad-request")
    assert_error(await upload(api, b""), 400, "http:error:validation-fail")
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"  # Pillow reads EPS through Ghostscript: refused
    assert_error(await upload(api, eps, filename="a.eps"), 400, "media:error:bad-request")
    no_file = await api.request("POST", "/v1/image", sub="alice", files={"other": ("a.jpg", picture(), "image/jpeg")})
    assert assert_error(no_file, 400, "http:error:validation-fail")["invalid_parameters"] == [
        {"name": "file", "reason": '"file" (the image) is required'}]
    for field, value in (("quality_ratio", "-1"), ("medium_size_ratio", "0"), ("thumbnail_size_ratio", "101"),
                         ("quality_ratio", "high")):
        body = assert_error(await upload(api, picture(), fields={field: value}), 400, "http:error:validation-fail")
        assert [p["name"] for p in body["invalid_parameters"]] == [field]
    assert_error(await api.request("POST", "/v1/image", sub="alice", json={"file": "x"}), 415,
                 "http:error:unsupported-media-type")
    no_boundary = await api.request("POST", "/v1/image", sub="alice", content=b"--x\r\n",
                                    headers={"content-type": "multipart/form-data"})
    assert_error(no_boundary, 400, "media:error:bad-request")
    assert_error(await api.request("GET", "/v1/image", sub="alice"), 405, "http:error:method-not-allowed")


async def test_uploads_and_fetches_need_a_valid_token_of_the_application(
        api: Api, store: Store, other_keys: KeyPair) -> None:
    await api.user("alice")
    body = (await upload(api, picture())).json()
    url = body["original"]["url"]
    files = {"file": ("a.jpg", picture(), "image/jpeg")}
    assert_error(await api.client.post("/v1/image", files=files), 401, "system:error:missing-token")
    garbage = {"Authorization": "Bearer nonsense"}
    assert_error(await api.client.post("/v1/image", files=files, headers=garbage), 401, "system:error:invalid-token")
    assert_error(await api.client.get(url), 401, "system:error:missing-token")
    assert_error(await api.client.get(url, headers=garbage), 401, "system:error:invalid-token")
    # another application's token: its media are not ours, and ours are not its
    other = await add_application(store, other_keys, "other")
    foreign = {"Authorization": f"Bearer {mint_token(other_keys, other.id)}"}
    assert_error(await api.client.get(url, headers=foreign), 404, "media:error:not-found")
    assert_error(await api.client.delete(url, headers=foreign), 404, "media:error:not-found")
    assert_error(await fetch(api, "/v3/media/00000000-0000-4000-8000-000000000000"), 404, "media:error:not-found")
    # the ACL paths of the docs: /*/image/** to upload, /*/media/** to fetch
    chat_only = {"Authorization": f"Bearer {api.token('alice', acl={'paths': {'/*/conversations/**': {}}})}"}
    assert_error(await api.client.post("/v1/image", files=files, headers=chat_only), 403, "system:error:permission")
    assert_error(await api.client.get(url, headers=chat_only), 403, "system:error:permission")
    images = {"Authorization": f"Bearer {api.token('alice', acl={'paths': {'/*/image/**': {}, '/*/media/**': {}}})}"}
    assert (await api.client.post("/v1/image", files=files, headers=images)).status_code == 200
    assert (await api.client.get(url, headers=images)).status_code == 200


async def test_the_uploader_or_an_admin_deletes_the_whole_image(api: Api) -> None:
    await api.user("alice")
    await api.user("bob")
    body = (await upload(api, picture())).json()
    urls = [body[n]["url"] for n in ("original", "medium", "thumbnail")]
    assert_error(await api.request("DELETE", urls[0], sub="bob"), 403, "system:error:permission")
    deleted = await api.request("DELETE", urls[0], sub="alice")
    assert (deleted.status_code, deleted.content) == (204, b"")
    for url in urls:
        assert_error(await fetch(api, url), 404, "media:error:not-found")
    assert_error(await api.request("DELETE", urls[1], sub="alice"), 404, "media:error:not-found")
    second = (await upload(api, picture())).json()
    assert (await api.request("DELETE", second["thumbnail"]["url"])).status_code == 204  # admin token
    assert_error(await fetch(api, second["original"]["url"]), 404, "media:error:not-found")


@pytest.fixture
async def small(store: Store, settings: Settings, api: Api) -> AsyncIterator[Api]:
    """The same application behind a server with small image limits."""
    limits = Limits(max_image_bytes=20_000, max_image_pixels=1_000_000)
    app = build_app(store, dataclasses.replace(settings, limits=limits))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        yield Api(client, api.keys, api.application_id)


async def test_oversize_files_and_decompression_bombs_get_413(small: Api) -> None:
    await small.user("alice")
    noisy = Image.effect_noise((300, 300), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    big = out.getvalue()
    assert len(big) > 20_000
    assert_error(await upload(small, big, filename="a.png"), 413, "http:error:request-too-large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
        yield boundary
        for start in range(0, len(big) * 5, 8192):
            yield (big * 5)[start:start + 8192]
        yield b"\r\n--b--\r\n"

    streamed = await small.request("POST", "/v1/image", sub="alice", content=chunks(),
                                   headers={"content-type": "multipart/form-data; boundary=b"})
    assert_error(streamed, 413, "http:error:request-too-large")
    # 2000 x 1000 of one colour: a tiny file that would decode to 2 million pixels
    bomb = picture((2000, 1000), fmt="PNG")
    assert len(bomb) < 20_000
    body = assert_error(await upload(small, bomb, filename="a.png"), 413, "http:error:request-too-large")
    assert "1000000 pixels" in body["detail"]
    assert (await upload(small, picture((1000, 1000), fmt="PNG"), filename="a.png")).status_code == 200


async def test_image_responses_match_the_document(api: Api, small: Api) -> None:
    from tests.http.test_openapi import Conformance

    c = Conformance()
    await api.user("alice")
    await api.user("bob")
    media = "/v3/media/{media_id}"
    body = c.check(await upload(api, picture()), "/v1/image")
    c.check(await upload(api, picture((20, 20), "RGBA", "PNG"), filename="a.png"), "/v1/image")
    c.check(await upload(api, b"not an image"), "/v1/image")  # 400
    c.check(await upload(api, picture(), fields={"quality_ratio": "x"}), "/v1/image")  # 400
    c.check(await api.client.post("/v1/image", files={"file": ("a", picture())}), "/v1/image")  # 401
    no_images = {"Authorization": f"Bearer {api.token('alice', acl={'paths': {'/*/users/**': {}}})}"}
    c.check(await api.client.post("/v1/image", files={"file": ("a", picture())}, headers=no_images), "/v1/image")
    c.check(await api.request("POST", "/v1/image", sub="alice", json={}), "/v1/image")  # 415
    c.check(await upload(small, picture((2000, 1000), fmt="PNG")), "/v1/image")  # 413
    got = await fetch(api, body["original"]["url"])
    c.check(got, media)
    c.check(await fetch(api, body["original"]["url"], headers={"If-None-Match": got.headers["etag"]}), media)  # 304
    c.check(await api.client.get(body["original"]["url"]), media)  # 401
    c.check(await api.client.get(body["original"]["url"], headers=no_images), media)  # 403
    c.check(await fetch(api, "/v3/media/00000000-0000-4000-8000-000000000000"), media)  # 404
    c.check(await api.request("DELETE", body["medium"]["url"], sub="bob"), media)  # 403
    c.check(await api.request("DELETE", body["medium"]["url"], sub="alice"), media)  # 204
    c.check(await api.request("DELETE", body["medium"]["url"], sub="alice"), media)  # 404
    assert {status for method, template, status in c.seen if template == "/v1/image"} == {
        "200", "400", "401", "403", "413", "415"}
    assert {(method, status) for method, template, status in c.seen if template == media} == {
        ("get", "200"), ("get", "304"), ("get", "401"), ("get", "403"), ("get", "404"), ("delete", "403"),
        ("delete", "204"), ("delete", "404")}


async def test_representation_urls_use_the_public_url(store: Store, settings: Settings, api: Api) -> None:
    app = build_app(store, dataclasses.replace(settings, public_url="https://chat.example.com/parley/"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.internal:8080") as client:
        behind_proxy = Api(client, api.keys, api.application_id)
        await behind_proxy.user("alice")
        body = (await upload(behind_proxy, picture())).json()
    for name in ("original", "medium", "thumbnail"):
        assert body[name]["url"] == f"https://chat.example.com/parley/v3/media/{body[name]['id']}"
