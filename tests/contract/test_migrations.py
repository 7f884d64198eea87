"""Migrations carry existing data forward, on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import asyncpg
from alembic import command

from parley.app import open_store
from parley.domain.ports import NewEvent
from parley.settings import Settings
from parley.store.migrate import alembic_config
from tests.conftest import drop_postgres_database, fresh_postgres_database


async def run_sql(database_url: str, statements: list[str]) -> None:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    connection = await asyncpg.connect(database_url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_0002_keeps_events_and_continues_their_ids(database_url: str, tmp_path: Path) -> None:
    # This test needs a database below the newest revision: a fresh one of the same kind.
    postgres = not database_url.startswith("sqlite")
    url = await fresh_postgres_database() if postgres else f"sqlite:///{tmp_path / 'old.db'}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0001")
        conversation_id = f"CON-{uuid.uuid4()}"
        await run_sql(url, [
            "INSERT INTO applications (id, name, public_key_pem, created) VALUES ('app', 'a', 'k', 't')",
            "INSERT INTO conversations (application_id, id, name, state, last_event_id, created) "
            f"VALUES ('app', '{conversation_id}', 'c', 'ACTIVE', 2, 't')",
            "INSERT INTO events (conversation_id, id, type, body, timestamp) VALUES "
            f"('{conversation_id}', 1, 'message', '{{\"text\": \"one\"}}', 't'), "
            f"('{conversation_id}', 2, 'message', '{{\"text\": \"two\"}}', 't')",
        ])

        store = await open_store(Settings(data_dir=tmp_path, database_url=url))  # migrates to the newest
        try:
            conversation = await store.conversation("app", conversation_id)
            assert conversation is not None and conversation.last_event_id == 2
            async with store.conversation_tx("app", conversation_id) as tx:
                event = await tx.append_event(NewEvent("custom:x", None, None, {}, "t"))
            assert event.id == 3
            second = await store.event("app", conversation_id, 2)
            assert second is not None and second.body == {"text": "two"}
        finally:
            await store.close()
    finally:
        if postgres:
            await drop_postgres_database(url)


async def test_0007_adds_application_origins_and_goes_back(database_url: str, tmp_path: Path) -> None:
    postgres = not database_url.startswith("sqlite")
    url = await fresh_postgres_database() if postgres else f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    application_id = str(uuid.uuid4())
    try:
        await asyncio.to_thread(command.upgrade, config, "0006")
        await run_sql(url, [
            "INSERT INTO applications (id, name, public_key_pem, created) "
            f"VALUES ('{application_id}', 'a', 'k', 't')",
            f"INSERT INTO users (application_id, id, name, properties, channels, created) "
            f"VALUES ('{application_id}', 'USR-1', 'ann', '{{}}', '{{}}', 't')",
        ])
        settings = Settings(data_dir=tmp_path, database_url=url)
        store = await open_store(settings)  # migrates to the newest
        try:
            assert (await columns(url, "applications"))[-1] == "origins"
            application = await store.application(application_id)
            assert application is not None and application.origins is None  # the server's list applies
            assert await store.set_application_origins(application_id, ("https://a.example",))
        finally:
            await store.close()

        await asyncio.to_thread(command.downgrade, config, "0006")
        assert "origins" not in await columns(url, "applications")
        assert await column_values(url, "SELECT id FROM applications") == [application_id]
        # the table was rebuilt on SQLite: its users (ON DELETE CASCADE) must still be there
        assert await column_values(url, "SELECT name FROM users") == ["ann"]

        store = await open_store(settings)
        try:
            application = await store.application(application_id)
            assert application is not None and application.origins is None
            assert (await store.user_by_name(application_id, "ann")) is not None
        finally:
            await store.close()
    finally:
        if postgres:
            await drop_postgres_database(url)


async def column_values(database_url: str, query: str) -> list[object]:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return [row[0] for row in connection.execute(query)]
    connection = await asyncpg.connect(database_url)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def columns(database_url: str, table: str) -> list[object]:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
    return await column_values(database_url, "SELECT column_name FROM information_schema.columns "
                                             f"WHERE table_name = '{table}' ORDER BY ordinal_position")
