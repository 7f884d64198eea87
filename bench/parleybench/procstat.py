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
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 10_000:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime + stime in seconds of each given process that is alive."""
    found = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # stat(5) fields 14, 15: utime, stime
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds (processes that are gone count 0)."""
    return sum(cpu_by_pid(pids).values())


def cpu_delta(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds used since `before` by the processes alive at both points (one that exits is not counted)."""
    now = cpu_by_pid(pids)
    return sum(max(0.0, now[pid] - before[pid]) for pid in now if pid in before)


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


def host_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat; shows other load on the box."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class CpuMeter:
    """CPU % of one core used by the server tree and by this process over one measured window."""

    def __init__(self, server_pid: int, db_pids: list[int] | None = None) -> None:
        self._server_pid = server_pid
        self._pids = process_tree(server_pid)
        self._db_pids = db_pids or []
        self._server0: dict[int, float] = {}
        self._db0: dict[int, float] = {}
        self._client0 = self._wall0 = self._host0 = 0.0

    def start(self) -> None:
        self._pids = process_tree(self._server_pid)
        self._db0 = cpu_by_pid(self._db_pids)
        self._server0 = cpu_by_pid(self._pids)
        self._client0 = time.process_time()
        self._host0 = host_busy_seconds()
        self._wall0 = time.perf_counter()

    def stop(self, wall_s: float | None = None) -> dict[str, float | bool]:
        """Percentages over `wall_s` (default: the time since `start`)."""
        wall = time.perf_counter() - self._wall0
        client = time.process_time() - self._client0
        server = cpu_delta(self._server0, self._pids)
        db = cpu_delta(self._db0, self._db_pids)
        host = host_busy_seconds() - self._host0
        basis = wall_s if wall_s and wall_s > 0 else wall
        server_pct = 100.0 * server / basis
        client_pct = 100.0 * client / basis
        db_pct = 100.0 * db / basis
        return {
            "server_pct": round(server_pct, 1),
            "client_pct": round(client_pct, 1),
            # PostgreSQL's processes working for this server (0 for SQLite, which runs inside the server)
            "db_pct": round(db_pct, 1),
            # everything else the machine did meanwhile (other processes, kernel), % of one core
            "other_pct": round(max(0.0, 100.0 * host / basis - server_pct - client_pct - db_pct), 1),
            "server_cpu_bound": server_pct >= CPU_BOUND_PCT,
            "client_cpu_bound": client_pct >= CPU_BOUND_PCT,
        }


def calibrate(rounds: int = 3) -> float:
    """Milliseconds for a fixed piece of pure-Python work (best of `rounds`): the speed of the machine right now.

    The reference VM's effective CPU speed drifts by up to 2x over minutes, invisibly to /proc/stat (no steal
    shown); recording this next to every run tells a slow box from a slow server.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return 1000.0 * best


@dataclass(frozen=True)
class Quiesce:
    waited_s: float
    last_pct: float
    quiet: bool  # False: the server was still busy after QUIET_MAX_WAIT_S
    other_pct: float = 0.0  # the rest of the machine over the last window, % of one core
    host_quiet: bool = True  # False: other processes stayed busy for the whole host wait
    calibration_ms: float = 0.0  # calibrate() right after the wait: lower = faster machine

    def as_dict(self) -> dict[str, float | bool]:
        return {"waited_s": round(self.waited_s, 2), "last_server_pct": round(self.last_pct, 1), "quiet": self.quiet,
                "other_pct": round(self.other_pct, 1), "host_quiet": self.host_quiet,
                "calibration_ms": round(self.calibration_ms, 1)}


def quiesce(server_pid: int, threshold_pct: float = QUIET_PCT, window_s: float = QUIET_WINDOW_S,
            max_wait_s: float = QUIET_MAX_WAIT_S, host_max_pct: float | None = None,
            host_wait_s: float = 0.0, db_pids: list[int] | None = None) -> Quiesce:
    """Wait until the server used < `threshold_pct` of one core over a `window_s` window (at most `max_wait_s`).

    With `host_max_pct`, also wait (at most `host_wait_s` in all) until the rest of the machine - processes that
    are neither the server nor this generator - uses less than that: on a shared box, other people's test runs
    would otherwise take the server's cores in the middle of a measurement. `db_pids` (PostgreSQL's processes
    serving this server) count as the server.
    """
    started = time.perf_counter()
    limit = max(max_wait_s, host_wait_s if host_max_pct is not None else 0.0)
    server_pct = other_pct = float("nan")
    server_quiet = host_quiet = False
    for _ in range(int(limit / window_s) + 2):
        pids = process_tree(server_pid) + (db_pids or [])
        server0, host0, self0 = cpu_by_pid(pids), host_busy_seconds(), time.process_time()
        time.sleep(window_s)
        server_pct = 100.0 * cpu_delta(server0, pids) / window_s
        host_pct = 100.0 * (host_busy_seconds() - host0) / window_s
        other_pct = max(0.0, host_pct - server_pct - 100.0 * (time.process_time() - self0) / window_s)
        server_quiet = server_pct < threshold_pct
        host_quiet = host_max_pct is None or other_pct < host_max_pct
        waited = time.perf_counter() - started
        if server_quiet and host_quiet:
            break
        if (not server_quiet and waited >= max_wait_s) or waited >= limit:
            break
    waited = time.perf_counter() - started
    return Quiesce(waited, server_pct, server_quiet, other_pct, host_quiet, calibrate())
