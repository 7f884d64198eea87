"""Configuration: command-line options override environment variables (`PARLEY_*`), which override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from parley.domain.limits import Limits


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def default_data_dir() -> Path:
    return Path(os.environ.get("PARLEY_DATA_DIR", "./data"))


def default_database_url(data_dir: Path) -> str:
    return os.environ.get("PARLEY_DATABASE_URL") or f"sqlite:///{(data_dir / 'parley.db').resolve()}"


def limits_from_env() -> Limits:
    base = Limits()
    return Limits(
        max_body_bytes=_int("PARLEY_MAX_BODY_BYTES", base.max_body_bytes),
        max_text_chars=_int("PARLEY_MAX_TEXT_CHARS", base.max_text_chars),
        max_custom_body_bytes=_int("PARLEY_MAX_CUSTOM_BODY_BYTES", base.max_custom_body_bytes),
        max_members=_int("PARLEY_MAX_MEMBERS", base.max_members),
        max_custom_data_bytes=_int("PARLEY_MAX_CUSTOM_DATA_BYTES", base.max_custom_data_bytes),
        max_image_bytes=_int("PARLEY_MAX_IMAGE_BYTES", base.max_image_bytes),
        max_image_pixels=_int("PARLEY_MAX_IMAGE_PIXELS", base.max_image_pixels),
    )


def cors_origins_from_env() -> tuple[str, ...]:
    raw = os.environ.get("PARLEY_CORS_ORIGINS")
    if raw is None:
        return ("*",)
    return tuple(entry.strip() for entry in raw.split(",") if entry.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""
    public_url: str | None = field(default_factory=lambda: os.environ.get("PARLEY_PUBLIC_URL") or None)
    sqlite_synchronous: str = field(default_factory=lambda: os.environ.get("PARLEY_SQLITE_SYNCHRONOUS", "FULL"))
    # `_embedded` of event lists: "auto" (array for @vonage/server-sdk clients, {"events": [...]} otherwise),
    # "array" or "object".
    events_envelope: str = field(default_factory=lambda: os.environ.get("PARLEY_EVENTS_ENVELOPE", "auto"))
    clock_skew_seconds: int = field(default_factory=lambda: _int("PARLEY_CLOCK_SKEW_SECONDS", 30))
    key_cache_seconds: float = field(default_factory=lambda: float(os.environ.get("PARLEY_KEY_CACHE_SECONDS") or 5))
    max_token_lifetime_seconds: int = field(default_factory=lambda: _int("PARLEY_MAX_TOKEN_LIFETIME_SECONDS", 86_400))
    limits: Limits = field(default_factory=limits_from_env)
    # Browser origins allowed to call the API and open sockets: `*` (unset) or a comma-separated list; an empty
    # value allows only the server's own origin. See api/cors.py and the README for why `*` is the default.
    cors_origins: tuple[str, ...] = field(default_factory=lambda: cors_origins_from_env())
    # permessage-deflate on websockets: off by default. Each compressed socket keeps a zlib context (~40 KiB with
    # uvicorn's settings) and deflates every frame itself, for frames of a few hundred bytes (docs/performance.md).
    ws_compression: bool = field(default_factory=lambda: os.environ.get("PARLEY_WS_COMPRESSION", "").lower()
                                 in ("1", "true", "yes", "on"))

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.data_dir)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    def sqlite_path(self) -> Path:
        url = self.resolved_database_url()
        return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
