"""End-to-end fixtures: a real `parley serve` process (SQLite, and PostgreSQL when one answers on 127.0.0.1:5432).

Each backend gets one server per test session: a fresh data directory, a fresh application made with
`parley app create`, and for PostgreSQL a freshly created database that is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
STARTUP_TIMEOUT = 30.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end tests against a real `parley serve` process")


@dataclass(frozen=True)
class Server:
    """A running parley server and the application the tests use."""

    backend: str
    url: str
    app_id: str
    private_key: Path
    log: Path
    storage: tuple[str, ...] = ()  # the `parley` options naming its database, for CLI commands next to it

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """The caller's environment minus PARLEY_* settings, so only the command line configures the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}


def parley(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parley", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), check=False)


def postgres_answers() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((PG_HOST, PG_PORT), timeout=2):
        return True
    return False


def pg_admin(sql: str) -> None:
    """Run one statement as the postgres superuser on the maintenance database (trust auth)."""
    if shutil.which("psql"):
        done = subprocess.run(["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", "postgres",
                               "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({sql}): {done.stderr.strip()}")
        return
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`parley serve` exited with {process.returncode} before answering /health:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    pytest.fail(f"`parley serve` did not answer GET /health with 200 within {STARTUP_TIMEOUT}s ({last}):\n"
                f"{log.read_text(errors='replace')}")


@contextlib.contextmanager
def running_server(backend: str, workdir: Path, database_url: str | None,
                   settings: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`settings`: PARLEY_* environment variables for the server."""
    data_dir = workdir / "data"
    key = workdir / "private.key"
    db_args = ["--database-url", database_url] if database_url else []

    created = parley("app", "create", "--name", "e2e", "--private-key-out", str(key), "--json",
                     "--data-dir", str(data_dir), *db_args)
    if created.returncode != 0:
        pytest.fail(f"`parley app create` failed ({created.returncode}):\n{created.stdout}\n{created.stderr}")
    try:
        app_id = json.loads(created.stdout)["id"]
    except (ValueError, KeyError, TypeError) as exc:
        pytest.fail(f"`parley app create --json` printed no application id: {created.stdout!r} ({exc})")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(data_dir),
             "--log-level", "warning", *db_args],
            stdout=log_file, stderr=subprocess.STDOUT, env={**child_env(), **(settings or {})})
    try:
        wait_healthy(url, process, log)
        yield Server(backend, url, app_id, key, log, ("--data-dir", str(data_dir), *db_args))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server("sqlite", tmp_path_factory.mktemp("parley-e2e-sqlite"), None) as server:
        yield server


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped afterwards; the test is skipped when no server answers."""
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT}: the PostgreSQL end-to-end run is skipped")
    name = f"parley_e2e_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with contextlib.suppress(Exception):
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with postgres_database() as url, running_server("postgresql", tmp_path_factory.mktemp("parley-e2e-pg"),
                                                    url) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def parley_server(request: pytest.FixtureRequest) -> Server:
    """The same tests against each storage backend."""
    server: Server = request.getfixturevalue(f"{'postgres' if request.param == 'postgresql' else 'sqlite'}_server")
    return server
