"""CPU and memory of the server, read from /proc; CPU of the load generator; waiting for a quiet server.

Server CPU is utime + stime from /proc/<pid>/stat, summed over the server process and its descendants, as % of
one core over a wall-time window. The load generator's CPU is `time.process_time()` of this process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
CPU_BOUND_PCT = 90.0  # ≥ 90 % of one core: a single-threaded runtime is CPU-bound (WORKLOADS.md)
QUIET_PCT = 10.0
QUIET_WINDOW_S = 2.0
QUIET_MAX_WAIT_S = 90.0


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo and len(found) < 10_000:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds (processes that are gone count 0)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5): utime, stime
    return ticks / CLK_TCK


def rss_kib(pids: list[int]) -> int:
    """Sum of VmRSS over the given processes (for W5)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


class CpuMeter:
    """CPU % of one core used by the server tree and by this process over one measured window."""

    def __init__(self, server_pid: int) -> None:
        self._server_pid = server_pid
        self._pids = process_tree(server_pid)
        self._server0 = self._client0 = self._wall0 = 0.0

    def start(self) -> None:
        self._pids = process_tree(self._server_pid)
        self._server0 = cpu_seconds(self._pids)
        self._client0 = time.process_time()
        self._wall0 = time.perf_counter()

    def stop(self, wall_s: float | None = None) -> dict[str, float | bool]:
        """Percentages over `wall_s` (default: the time since `start`)."""
        wall = time.perf_counter() - self._wall0
        client = time.process_time() - self._client0
        server = cpu_seconds(self._pids) - self._server0
        basis = wall_s if wall_s and wall_s > 0 else wall
        server_pct = 100.0 * server / basis
        client_pct = 100.0 * client / basis
        return {
            "server_pct": round(server_pct, 1),
            "client_pct": round(client_pct, 1),
            "server_cpu_bound": server_pct >= CPU_BOUND_PCT,
            "client_cpu_bound": client_pct >= CPU_BOUND_PCT,
        }


@dataclass(frozen=True)
class Quiesce:
    waited_s: float
    last_pct: float
    quiet: bool  # False: still busy after QUIET_MAX_WAIT_S

    def as_dict(self) -> dict[str, float | bool]:
        return {"waited_s": round(self.waited_s, 2), "last_server_pct": round(self.last_pct, 1), "quiet": self.quiet}


def quiesce(server_pid: int, threshold_pct: float = QUIET_PCT, window_s: float = QUIET_WINDOW_S,
            max_wait_s: float = QUIET_MAX_WAIT_S) -> Quiesce:
    """Wait until the server used < `threshold_pct` of one core over a `window_s` window (at most `max_wait_s`)."""
    started = time.perf_counter()
    pct = float("nan")
    for _ in range(int(max_wait_s / window_s) + 1):
        pids = process_tree(server_pid)
        before = cpu_seconds(pids)
        time.sleep(window_s)
        pct = 100.0 * (cpu_seconds(pids) - before) / window_s
        if pct < threshold_pct:
            return Quiesce(time.perf_counter() - started, pct, True)
        if time.perf_counter() - started >= max_wait_s:
            break
    return Quiesce(time.perf_counter() - started, pct, False)
