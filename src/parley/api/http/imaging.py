"""Uploaded images decoded and re-encoded with Pillow: original, medium and thumbnail.

This is CPU work (measured on the reference VM: ~70 ms for a 1.2-megapixel JPEG, 0.7 s for a 12-megapixel one,
against ~250 us for a thread hop), so the upload handler runs it in a worker thread. Every representation is
re-encoded, the original too: that applies the EXIF orientation, drops the metadata (a phone photo's GPS
position) and guarantees the file is what its Content-Type says. Images with transparency become PNG, all others
JPEG.
"""

from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageOps

from parley.domain.errors import DomainError
from parley.domain.media import ImageOptions, Rendition

# Formats a client may upload. Pillow opens many more (some through external programs, e.g. EPS through
# Ghostscript); only the common, self-contained ones are accepted.
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
MAX_JPEG_QUALITY = 95  # Pillow: above 95 the file grows for no visible gain


def not_an_image() -> DomainError:
    return DomainError("media:error:bad-request",
                       f"The file is not an image Parley can read ({', '.join(ACCEPTED_FORMATS)}).")


def too_many_pixels(max_pixels: int) -> DomainError:
    return DomainError("http:error:request-too-large", f"The image is larger than {max_pixels} pixels.")


def renditions(data: bytes, options: ImageOptions, max_pixels: int) -> list[Rendition]:
    """The three representations of an uploaded file, or a refusal: not an image, or too many pixels."""
    image = _decode(data, max_pixels)
    try:
        return _represent(image, options)
    except (OSError, ValueError) as exc:  # a mode or variant Pillow reads but cannot convert
        raise not_an_image() from exc


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
        # The header gives the size before anything is decompressed: refuse a bomb before it explodes.
        if image.width * image.height > max_pixels:
            raise too_many_pixels(max_pixels)
        image.load()  # the first frame of an animation
        return ImageOps.exif_transpose(image) or image
    except DomainError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit, should an operator raise ours past it
        raise too_many_pixels(max_pixels) from exc
    except Exception as exc:  # a malformed file can make a decoder raise nearly anything (struct.error...)
        raise not_an_image() from exc


def _represent(image: Image.Image, options: ImageOptions) -> list[Rendition]:
    # alpha channels, and palette or colour-key transparency (`transparency` in the PNG/GIF info)
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if transparent:
        image = image.convert("RGBA")
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    made: dict[tuple[int, int], Rendition] = {}
    result = []
    for kind, ratio in (("ORIGINAL", 100), ("MEDIUM", options.medium_ratio), ("THUMBNAIL", options.thumbnail_ratio)):
        size = (max(1, round(image.width * ratio / 100)), max(1, round(image.height * ratio / 100)))
        if size not in made:  # a ratio of 100 (or two equal ratios) needs no second encoding
            scaled = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS,
                                                                   reducing_gap=3.0)
            made[size] = _encode(scaled, transparent, options.quality, kind)
        result.append(Rendition(kind, made[size].content_type, made[size].data))
    return result


def _encode(image: Image.Image, transparent: bool, quality: int, kind: str) -> Rendition:
    out = BytesIO()
    if transparent:
        image.save(out, "PNG")
        return Rendition(kind, "image/png", out.getvalue())
    image.save(out, "JPEG", quality=max(1, min(MAX_JPEG_QUALITY, quality)))
    return Rendition(kind, "image/jpeg", out.getvalue())
