"""Create or upgrade the database to the newest schema version (Alembic, run programmatically)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """Our URLs are `sqlite:///path` or `postgresql://...`; Alembic needs the driver named for PostgreSQL."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix):]
    return database_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")

