"""One parley server process under test: fresh temp data dir, fresh PostgreSQL database, free loopback port."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from parleybench.client import HOST

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
LOG_MARKERS = ("Traceback", "ERROR", "CRITICAL", "Exception", "error:")


def server_python() -> str:
    """The interpreter that has parley installed: the repo's venv when there is one."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@dataclass(frozen=True)
class ServerConfig:
    db: str  # "sqlite" | "postgresql"
    sqlite_synchronous: str = "FULL"
    source: Path | None = None  # a directory holding the `parley` package to run instead of the installed one

    @property
    def label(self) -> str:
        return f"sqlite/{self.sqlite_synchronous}" if self.db == "sqlite" else "postgresql"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def _pg_backends(database: str) -> list[int]:
    """PostgreSQL processes working for `database`: its backends plus the cluster's background writers."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR backend_type <> 'client backend') "
            "AND pid <> pg_backend_pid()", database)
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


async def _pg_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class Server:
    """Context manager: start on enter (app created, /health answering), stop and clean up on exit."""

    def __init__(self, config: ServerConfig, log: bool = True) -> None:
        self.config = config
        self.port = 0
        self.app_id = ""
        self.private_key = ""
        self.dir = Path()
        self.database = ""
        self.database_url = ""
        self.startup_s = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Path | None = None
        self._verbose = log
        self._old_logs: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------------
    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env["PARLEY_SQLITE_SYNCHRONOUS"] = self.config.sqlite_synchronous
        if self.config.source is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.config.source), env.get("PYTHONPATH")]))
        return env

    def _cli(self, *args: str) -> str:
        command = [server_python(), "-m", "parley", *args, "--data-dir", str(self.dir / "data"),
                   "--database-url", self.database_url]
        done = subprocess.run(command, cwd=self.dir, env=self._env(), capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
        if self.config.db == "postgresql":
            self.database = f"parley_bench_{os.getpid()}_{secrets.token_hex(3)}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{self.database}"'))
            self.database_url = f"postgresql://postgres@127.0.0.1:5432/{self.database}"
        else:
            self.database_url = f"sqlite:///{self.dir / 'data' / 'parley.db'}"
        key_file = self.dir / "app.key"
        created = json.loads(self._cli("app", "create", "--name", "bench", "--private-key-out", str(key_file),
                                       "--json"))
        self.app_id = created["id"]
        self.private_key = key_file.read_text()
        self.port = free_port()
        self._log_file = self.dir / "server.log"
        started = time.perf_counter()
        with self._log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [server_python(), "-m", "parley", "serve", "--host", HOST, "--port", str(self.port),
                 "--data-dir", str(self.dir / "data"), "--database-url", self.database_url,
                 "--log-level", "warning"],
                cwd=self.dir, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy()
        self.startup_s = time.perf_counter() - started
        if self._verbose:
            print(f"# server {self.config.label} pid {self.pid} on {HOST}:{self.port} "
                  f"(up in {self.startup_s:.1f} s, data {self.dir})", flush=True)

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited with {self._process.returncode}: {self.log_text()[-3000:]}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {STARTUP_TIMEOUT_S} s: {self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_S)
        if self.database:
            try:
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            except Exception as exc:  # report, but never leave the run half-finished
                print(f"# could not drop database {self.database}: {exc}", file=sys.stderr)
            self.database = ""
        if self._log_file is not None:
            self._old_logs.append(self.log_text())
            self._log_file = None
        if self.dir != Path() and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def db_pids(self) -> list[int]:
        """The database server's processes doing this server's work (none for SQLite, which runs in-process)."""
        if self.config.db != "postgresql" or not self.database:
            return []
        return asyncio.run(_pg_backends(self.database))

    def restart(self) -> None:
        """A fresh server process (same config, fresh data) - for workloads that need one per repetition (W5)."""
        self.stop()
        self.start()

    # -- what the server said ------------------------------------------------------------------------------
    def log_text(self) -> str:
        if self._log_file is None or not self._log_file.exists():
            return ""
        return self._log_file.read_text(errors="replace")

    def log_summary(self, limit: int = 30) -> list[str]:
        """The log's distinct top-level lines (messages and exception lines, not traceback frames), counted."""
        seen: dict[str, int] = {}
        for line in self.log_lines(1_000_000):
            if not line.startswith((" ", "\t", "Traceback")):
                key = re.sub(r"(CON|MEM|USR)-[0-9a-f-]{36}", r"\1-…", line)
                seen[key] = seen.get(key, 0) + 1
        return [f"{count}x {line}" for line, count in list(seen.items())[:limit]]

    def log_lines(self, limit: int = 400) -> list[str]:
        """Everything the server logged, over all its processes so far (it logs at warning level: problems only)."""
        text = "\n".join([*self._old_logs, self.log_text()])
        return [line for line in text.splitlines() if line.strip()][:limit]

    def log_errors(self) -> int:
        """How many logged lines look like errors."""
        return sum(1 for line in self.log_lines(10_000) if any(m in line for m in LOG_MARKERS))


class RawCastServer:
    """The raw ceiling's bare broadcast server (`parleybench.rawcast`) in its own process, for W3."""

    def __init__(self, source: Path | None = None) -> None:
        self.port = 0
        self.source = source
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> RawCastServer:
        self.port = free_port()
        bench_dir = Path(__file__).resolve().parents[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(bench_dir), str(self.source or ""),
                                                          env.get("PYTHONPATH")]))
        self._log = Path(tempfile.mkstemp(prefix="parley-rawcast-", suffix=".log")[1])
        with self._log.open("wb") as log:
            self._process = subprocess.Popen([server_python(), "-m", "parleybench.rawcast", "--port", str(self.port)],
                                             env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"rawcast exited: {self._log.read_text()[-2000:]}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return self
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("rawcast not healthy")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_S)
        self._log.unlink(missing_ok=True)
