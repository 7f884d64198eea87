"""Optional py-spy sampling of the server during a workload's measured step (`--profile`).

py-spy pauses the server at every sample, so a profiled repetition is slower; the runner runs it as an extra
repetition ("profile") that is kept out of the figures. The raw (collapsed-stack) output is summarised here
as the functions with the largest self and inclusive shares of the samples.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from parleybench.server import REPO

ATTACH_WAIT_S = 1.5
STOP_TIMEOUT_S = 60.0
_LINE = re.compile(r":\d+\)$")
# Frames every sample passes through (process start-up, CLI, the event loop's entry): left out of "inclusive".
ROOT_FRAMES = ("<frozen runpy>", "typer/", "click/", "asyncio/runners.py", "uvicorn/main.py", "uvicorn/server.py",
               "uvicorn/_compat.py", "parley/cli/main.py", "parley/__main__.py", "threading.py")


def py_spy() -> str | None:
    local = REPO / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, output: Path, rate: int = 200, idle: bool = False, native: bool = False) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.idle = idle
        self.native = native
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = py_spy()
        if binary is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        command = [binary, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(self.rate),
                   "--output", str(self.output)]
        if self.idle:
            command.append("--idle")
        if self.native:
            command.append("--native")
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(ATTACH_WAIT_S)
        if self._process.poll() is not None:
            stderr = self._process.stderr.read().decode() if self._process.stderr else ""
            raise RuntimeError(f"py-spy could not attach: {stderr}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)
        self._process = None


# Leaves of threads that wait rather than work; py-spy's idle detection misses them under load in this VM.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)",)  # a thread-pool worker blocked in queue.get()


# Where a sample's time goes, by the first rule whose marker occurs in its stack (checked in order). The leaf
# rules come first: SQLite's BEGIN/COMMIT lines (FULL: the fsync) and uvloop's C code under Runner.run.
PHASES: tuple[tuple[str, str], ...] = (
    ("auth (Context.principal: token cache, user lookup)", "Context.principal"),
    ("request body (read_json)", "Context.body"),
    ("send: open conversation tx (SELECT conversation)", "SQLStore.conversation_tx"),
    ("send: sender member lookup", "EventService._sender"),
    ("send: append_event (UPDATE ... RETURNING, INSERT)", "append_event"),
    ("send: EventService.create, rest", "EventService.create"),
    ("history: SQLStore.events (query, rows -> Event)", "SQLStore.events"),
    ("history: readable_conversation", "readable_conversation"),
    ("render events (render.py)", "api/http/render.py"),
    ("JSON encode (JSONResponse.render)", "JSONResponse.render"),
    ("handler, rest", "routes.<locals>"),
    ("response write (uvicorn send -> transport.write)", "RequestResponseCycle.send"),
    ("starlette routing and middleware", "starlette/"),
    ("uvicorn protocol (parse, start task)", "uvicorn/protocols"),
)


def phase(frames: list[str]) -> str:
    leaf = frames[-1]
    joined = ";".join(frames)
    if leaf.startswith("Runner.run (asyncio/runners.py"):
        return "event loop (uvloop C code: epoll, socket I/O)"
    if leaf.startswith("SQLiteBackend.transaction"):
        return "SQLite BEGIN IMMEDIATE / COMMIT (FULL: fsync)"
    if "uvicorn/protocols" not in joined:
        return "outside a request (asyncpg and loop callbacks)"
    for name, marker in PHASES:
        if marker in joined:
            return name
    return "other"


def _frame(raw: str) -> str:
    """`handler (parley/api/http/events.py:41)` -> `handler (parley/api/http/events.py)`; paths shortened."""
    frame = _LINE.sub(")", raw.strip())
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in frame:
            name, _, path = frame.partition(" (")
            frame = f"{name} ({path.split(marker, 1)[1]}" if marker in path else frame
            break
    return frame


def summarize(collapsed: Path, top: int = 25) -> dict[str, object]:
    """Self and inclusive sample shares per function from py-spy's raw output (idle-thread samples left out).

    `Runner.run (asyncio/runners.py)` as a leaf is uvloop's C code: the event loop, socket reads and writes.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if stack.rsplit(";", 1)[-1].strip() in IDLE_LEAVES:
            idle += count
            continue
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        phases[phase(frames)] += count
        for frame in set(frames):
            if not any(root in frame for root in ROOT_FRAMES):
                inclusive[frame] += count

    def shares(counter: Counter[str]) -> list[dict[str, object]]:
        return [{"function": name, "samples": n, "pct": round(100.0 * n / total, 1)}
                for name, n in counter.most_common(top)]

    return {"samples": total, "idle_samples_dropped": idle, "self": shares(own), "inclusive": shares(inclusive),
            "self_by_package": shares(packages), "phases": shares(phases)}


def _package(frame: str) -> str:
    """`f (starlette/routing.py)` -> `starlette`; the standard library's modules keep their own name."""
    _, _, path = frame.partition(" (")
    path = path.rstrip(")")
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or path
