"""The markdown tables printed after a run, and the host description for the JSON file."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from parleybench.env import RunRecord
from parleybench.server import REPO
from parleybench.stats import spread
from parleybench.workloads import Workload

DASH = "\u2013"  # en dash, for ranges in the tables


def host() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {"cpu_model": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def version(source: Path | None = None) -> dict[str, Any]:
    """The package version and the git state of the source the server runs from."""
    try:
        package = metadata.version("parley")
    except metadata.PackageNotFoundError:
        package = None
    tree = source if source is not None else REPO / "src"
    commit = dirty = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=tree, capture_output=True,
                                text=True, timeout=10, check=True).stdout
        dirty = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"package": package, "git_commit": commit, "src_uncommitted_changes": dirty}


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "NO"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def _cpu(pct: float, bound: bool) -> str:
    return f"{pct:.0f}{' (CPU-bound)' if bound else ''}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(workload: Workload, records: Sequence[RunRecord]) -> str:
    header = ["db", "rep", *(c.header for c in workload.columns), "server CPU %", "PG CPU %", "gen CPU %",
              "other CPU %", "quiesce s", "cal ms", "notes"]
    rows = []
    for r in records:
        rows.append([
            str(r.params.get("db")), str(r.rep),
            *(_fmt(r.metrics.get(c.key), c.fmt) for c in workload.columns),
            _cpu(r.cpu["server_pct"], r.cpu["server_cpu_bound"]),
            _fmt(r.cpu.get("db_pct"), "{:.0f}"),
            _cpu(r.cpu["client_pct"], r.cpu["client_cpu_bound"]),
            _fmt(r.cpu.get("other_pct"), "{:.0f}"),
            _fmt(r.quiesce.get("waited_s"), "{:.1f}") + ("" if r.quiesce.get("quiet", True) else " (server busy)")
            + ("" if r.quiesce.get("host_quiet", True) else " (host busy)"),
            _fmt(r.quiesce.get("calibration_ms"), "{:.0f}"),
            "; ".join(r.notes),
        ])
    return f"### {workload.title}\n\n" + table(header, rows)


def summary(workloads: Sequence[Workload], records: Sequence[RunRecord]) -> str:
    """Spread (min-max) of each workload's headline metric per database, against the goals and peers."""
    rows = []
    own = []
    for workload in workloads:
        if workload.summarize is not None:
            own.append(workload.summarize([r for r in records if r.workload == workload.name]))
            continue
        column = next((c for c in workload.columns if c.key == workload.headline), None)
        fmt = column.fmt if column else "{}"
        labels = list(dict.fromkeys(str(r.params.get("db")) for r in records if r.workload == workload.name))
        for label in labels:
            mine = [r for r in records if r.workload == workload.name and r.params.get("db") == label
                    and isinstance(r.rep, int)]
            values = [float(r.metrics[workload.headline]) for r in mine]
            low, high = spread(values)
            server = spread([float(r.cpu["server_pct"]) for r in mine])
            client = spread([float(r.cpu["client_pct"]) for r in mine])
            db = spread([float(r.cpu.get("db_pct", 0.0)) for r in mine])
            verdicts = []
            for goal in workload.goals:
                if any(label.startswith(db) for db in goal.dbs):
                    actual = [float(r.metrics[goal.key]) for r in mine if r.metrics.get(goal.key) is not None]
                    met = bool(actual) and all(goal.met(v) for v in actual)
                    verdicts.append(f"{goal.text}: {'met' if met else 'MISSED'}")
            rows.append([workload.name, label, workload.headline, str(len(values)),
                         f"{_fmt(low, fmt)}{DASH}{_fmt(high, fmt)}",
                         f"{server[0]:.0f}{DASH}{server[1]:.0f}", f"{db[0]:.0f}{DASH}{db[1]:.0f}",
                         f"{client[0]:.0f}{DASH}{client[1]:.0f}",
                         "; ".join(verdicts) or DASH])
    peer_rows = [[w.name, name, figure] for w in workloads for name, figure in w.peers.items()]
    return ("".join(text + "\n\n" for text in own)
            + f"### Summary (spread min{DASH}max over repetitions)\n\n"
            + table(["workload", "db", "metric", "runs", f"min{DASH}max", "server CPU %", "PG CPU %", "gen CPU %",
                     "goal"], rows)
            + "\n\n### Peers on the reference box (WORKLOADS.md)\n\n"
            + table(["workload", "peer", "figure"], peer_rows))


def profile_table(label: str, profile: dict[str, Any], top: int = 15) -> str:
    rows = [[str(i + 1), f"`{p['function']}`", f"{p['pct']:.1f}"] for i, p in enumerate(profile["self"][:top])]
    incl = [[str(i + 1), f"`{p['function']}`", f"{p['pct']:.1f}"]
            for i, p in enumerate(profile["inclusive"][:top])]
    packages = ", ".join(f"{p['function']} {p['pct']:.0f} %" for p in profile["self_by_package"][:8])
    phases = [[f"{p['pct']:.1f}", str(p["function"])] for p in profile.get("phases", [])]
    return (f"### py-spy {label}: {profile['samples']} samples\n\nself time by package: {packages}\n\n"
            + "where the samples fall\n\n" + table(["% samples", "phase"], phases) + "\n\nself time\n\n"
            + table(["#", "function", "% samples"], rows)
            + "\n\ninclusive time\n\n" + table(["#", "function", "% samples"], incl))
