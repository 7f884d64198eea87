"""Alembic environment: runs the versioned migrations on SQLite (sync) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config


MIGRATION_LOCK = 7_303_616_578  # any constant: PostgreSQL advisory lock key for "parley migrates"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # a server and a CLI command starting together must not both create the schema
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def main() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    if url.startswith("postgresql+asyncpg"):
        asyncio.run(_run_async(url))
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


main()
