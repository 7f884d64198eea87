"""The two database backends behind one small connection interface.

Queries are written once with `?` placeholders; the PostgreSQL backend rewrites them to `$n`. Everything a
dialect differs in (placeholders, row locks, driver errors, how a transaction is opened) lives here, never as
`if postgres:` in the queries.

SQLite runs on the event loop's thread on purpose: its calls take microseconds, a thread hop per statement
would cost more than the statement, and a write transaction then runs without yielding. Writers take an
asyncio lock so that a transaction is never interleaved with another; readers use a second connection that,
under WAL, only ever sees committed data.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

Row = Sequence[Any]


class UniqueViolation(Exception):
    """A unique constraint refused a write (the caller knows which one it was writing)."""


class ApplicationGone(Exception):
    """A write referred to an application deleted meanwhile (every foreign key leads to one: users, conversations
    and members are deleted softly, applications for real)."""


class StoreBusy(Exception):
    """The database stayed locked by another process (a CLI command, a second server) past the busy timeout."""


class Connection(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def execute(self, sql: str, *args: Any) -> int: ...


class Backend(Protocol):
    for_update: str  # the row-lock clause to append to a SELECT inside a transaction
    for_share: str  # the shared row-lock clause (blocks writers of the row until the transaction ends)
    reread_after_lock: bool  # must a transaction read again what it read while taking the lock?

    def json_text(self, column: str, key: str) -> str:
        """SQL for the text at top-level `key` of the JSON object stored (as text) in `column`."""

    def read(self) -> Connection: ...
    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...
    async def close(self) -> None: ...


# -- SQLite ------------------------------------------------------------------------------------------------


def _busy(exc: sqlite3.OperationalError) -> Exception:
    """Another process held the database's write lock past the busy timeout: a retryable condition."""
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreBusy(str(exc))
    return exc


class SQLiteConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return self._connection.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            row: Row | None = self._connection.execute(sql, args).fetchone()
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc
        return row

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return self._connection.execute(sql, args).rowcount
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            if "FOREIGN KEY" in str(exc):
                raise ApplicationGone(str(exc)) from exc
            raise
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc


def _open_sqlite(path: Path, synchronous: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("PRAGMA foreign_keys=ON")
    # Waits block the event loop (SQLite runs on it): short, then the request gets 503 and may retry.
    connection.execute("PRAGMA busy_timeout=1000")
    return connection


class SQLiteBackend:
    for_update = ""  # BEGIN IMMEDIATE already holds the database's write lock
    for_share = ""
    reread_after_lock = False  # ... so the transaction's first read is already current

    @staticmethod
    def json_text(column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
        self._writer = _open_sqlite(path, synchronous.upper())
        self._reader = _open_sqlite(path, synchronous.upper())
        self._lock = asyncio.Lock()

    def read(self) -> Connection:
        return SQLiteConnection(self._reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _busy(exc) from exc
            try:
                yield SQLiteConnection(self._writer)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            try:
                self._writer.execute("COMMIT")
            except sqlite3.Error:
                # a failed COMMIT leaves the transaction open: end it, or every later BEGIN fails
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        self._writer.close()
        self._reader.close()


# -- PostgreSQL ----------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


def to_numbered(sql: str) -> str:
    """`?` placeholders to asyncpg's `$1, $2 ...` (our queries have no `?` inside string literals)."""
    counter = iter(range(1, 1_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresConnection:
    def __init__(self, connection: Any, cache: dict[str, str]) -> None:
        self._connection = connection
        self._cache = cache

    def _sql(self, sql: str) -> str:
        converted = self._cache.get(sql)
        if converted is None:
            converted = self._cache[sql] = to_numbered(sql)
        return converted

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._connection.fetch(self._sql(sql), *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._connection.fetchrow(self._sql(sql), *args)
        return row

    async def execute(self, sql: str, *args: Any) -> int:
        import asyncpg

        try:
            status: str = await self._connection.execute(self._sql(sql), *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise ApplicationGone(str(exc)) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PooledRead:
    """A read outside any transaction: borrow a pooled connection per statement."""

    def __init__(self, pool: Any, cache: dict[str, str]) -> None:
        self._pool = pool
        self._cache = cache

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as connection:
            return await PostgresConnection(connection, self._cache).fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._pool.acquire() as connection:
            return await PostgresConnection(connection, self._cache).fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as connection:
            return await PostgresConnection(connection, self._cache).execute(sql, *args)


async def _keep_session(connection: Any) -> None:
    return None


class PostgresBackend:
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"
    reread_after_lock = True  # READ COMMITTED: the locking statement's snapshot predates a writer it waited for

    @staticmethod
    def json_text(column: str, key: str) -> str:
        # PostgreSQL refuses to parse a JSON text holding a \u0000 escape (in any field): such a row has no value
        # here, rather than failing the whole query.
        return f"(CASE WHEN strpos({column}, '\\u0000') = 0 THEN {column}::json ->> '{key}' END)"

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._cache: dict[str, str] = {}

    @classmethod
    async def connect(cls, dsn: str, min_size: int = 2, max_size: int = 10) -> PostgresBackend:
        import asyncpg

        # asyncpg's default reset (advisory locks, LISTEN, session settings) is a round trip per release, and
        # parley uses none of those session features; asyncpg still clears its own per-connection state.
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)
        return cls(pool)

    def read(self) -> Connection:
        return PooledRead(self._pool, self._cache)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield PostgresConnection(connection, self._cache)

    async def close(self) -> None:
        await self._pool.close()
