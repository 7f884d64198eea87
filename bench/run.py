"""Run the chat-server workloads (/work/shared/bench/WORKLOADS.md) against parley.

    python bench/run.py [--db sqlite|postgres|both] [--workloads W1,W4] [--reps 2]
                        [--sqlite-synchronous FULL|NORMAL|FULL,NORMAL] [--profile]

Every database configuration gets its own server process on a free 127.0.0.1 port with a fresh temporary data
directory (PostgreSQL: a fresh database on 127.0.0.1:5432, dropped afterwards). Prints a markdown table of every
run and writes the figures as JSON to bench/results/<timestamp>.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".venv"


def _ensure_venv() -> None:
    """Re-run under the repo's venv when started with an interpreter that lacks parley's dependencies."""
    try:
        import jwt  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(python, [str(python), *sys.argv])
        raise


_ensure_venv()

import json  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from parleybench import report  # noqa: E402
from parleybench.client import JSON_LIB  # noqa: E402
from parleybench.env import BenchEnv, RunRecord  # noqa: E402
from parleybench.profile import Profiler, summarize  # noqa: E402
from parleybench.server import Server, ServerConfig  # noqa: E402
from parleybench.workloads import Workload, registry  # noqa: E402

SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite",
                        help="database(s) to run against (default sqlite)")
    parser.add_argument("--workloads", default="W1,W4", help="comma-separated workloads (default W1,W4)")
    parser.add_argument("--reps", type=int, default=2, help="repetitions per workload (default 2, minimum 1)")
    parser.add_argument("--sqlite-synchronous", default="FULL",
                        help="PRAGMA synchronous for SQLite (PARLEY_SQLITE_SYNCHRONOUS): FULL (default, durable "
                             "against power loss) or NORMAL (durable against process crashes only); a "
                             "comma-separated list runs one SQLite server per mode")
    parser.add_argument("--profile", nargs="?", const="W1", default="", metavar="W1,W4",
                        help="after the measured repetitions of these workloads (default W1), run one extra "
                             "repetition with py-spy sampling the server and summarise its hotspots (that "
                             "repetition is slower and kept out of the figures)")
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    parser.add_argument("--profile-native", action="store_true",
                        help="with --profile: also sample C frames (uvloop, sqlite3, orjson); slower")
    parser.add_argument("--profile-idle", action="store_true",
                        help="with --profile: also sample the server while it waits (fsync, sockets)")
    parser.add_argument("--server-src", type=Path, default=None,
                        help="run the server from this directory holding a `parley` package (e.g. another "
                             "checkout's src/) instead of the installed one, to compare builds")
    parser.add_argument("--host-quiet", type=float, default=30.0, metavar="PCT",
                        help="before each measured step also wait until processes other than the server and the "
                             "generator use < PCT %% of one core (default 30; 0 = do not wait); a run during which "
                             "they used more is repeated (see --busy-retries)")
    parser.add_argument("--host-wait", type=float, default=300.0, metavar="S",
                        help="wait at most S seconds for the host to be quiet before a step (default 300)")
    parser.add_argument("--busy-retries", type=int, default=2, metavar="N",
                        help="repeat a run at most N times when the host was busy during it; the busy runs are "
                             "kept in the JSON, marked discarded, and left out of the figures (default 2)")
    parser.add_argument("--w1-client", choices=("raw", "http.client"), default="raw",
                        help="W1's sender: pre-built requests over one raw keep-alive socket (default; ~0.07 ms "
                             "of generator CPU per send) or the standard library's http.client (~0.26 ms)")
    parser.add_argument("--rt-sender", choices=("rest", "socket"), default="rest",
                        help="W2/W3 sender: REST POST .../events type text over keep-alive connections (default), or "
                             "the `text` request on the sender's own /rtc socket")
    parser.add_argument("--w3-sizes", default="100,500,1000", help="W3 conversation sizes N (default 100,500,1000)")
    parser.add_argument("--w3-rates", default="",
                        help="W3 rate ladder in msgs/s, ascending (default 0.5,1,2,5,10,20,50,75,100,150,200,300,"
                             "500,750,1000,1500,2000; it stops at the first failing rung)")
    parser.add_argument("--no-raw", dest="w3_raw", action="store_false",
                        help="W3 without the raw-ceiling ladder (bare websocket broadcast on the same stack)")
    parser.add_argument("--note", default="", help="free text stored in the JSON's config (what was run, why)")
    parser.add_argument("--w1-sends", type=int, default=2000, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--w4-messages", type=int, default=10000, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--w2-messages", type=int, default=1000, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--w3-seconds", type=float, default=20.0, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--w5-clients", type=int, default=1000, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--w5-idle", type=float, default=30.0, help=argparse.SUPPRESS)  # smoke tests only
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.server_src is not None:
        args.server_src = args.server_src.resolve()
        if not (args.server_src / "parley" / "__init__.py").exists():
            parser.error(f"--server-src {args.server_src} holds no parley package")
    args.sync_modes = [m.strip().upper() for m in args.sqlite_synchronous.split(",") if m.strip()]
    if not args.sync_modes or any(m not in SYNC_MODES for m in args.sync_modes):
        parser.error(f"--sqlite-synchronous takes {', '.join(SYNC_MODES)}")
    known = registry()
    args.workload_list = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.profile_list = [w.strip().upper() for w in args.profile.split(",") if w.strip()]
    unknown = [w for w in args.workload_list if w not in known]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; implemented: {', '.join(known)}")
    try:
        args.w3_size_list = [int(x) for x in args.w3_sizes.split(",") if x.strip()]
        args.w3_rate_list = [float(x) for x in args.w3_rates.split(",") if x.strip()]
    except ValueError:
        parser.error("--w3-sizes and --w3-rates take comma-separated numbers")
    if any(n < 2 or n > 5000 for n in args.w3_size_list) or any(r <= 0 or r > 20000 for r in args.w3_rate_list):
        parser.error("W3 sizes must be 2..5000 and rates 0..20000 msgs/s")
    if not 1 <= args.reps <= 50:
        parser.error("--reps must be between 1 and 50")
    return args


def configs(args: argparse.Namespace) -> list[ServerConfig]:
    found = []
    if args.db in ("sqlite", "both"):
        found += [ServerConfig("sqlite", mode, args.server_src) for mode in args.sync_modes]
    if args.db in ("postgres", "both"):
        found.append(ServerConfig("postgresql", source=args.server_src))
    return found


def describe(record: RunRecord) -> str:
    shown = {k: v for k, v in record.metrics.items() if not isinstance(v, bool)}
    metrics = ", ".join(f"{k}={v}" for k, v in list(shown.items())[:5])
    return (f"#   {record.workload} rep {record.rep}: {metrics}; server {record.cpu['server_pct']}% "
            f"gen {record.cpu['client_pct']}%{' | ' + '; '.join(record.notes) if record.notes else ''}")


def run_config(config: ServerConfig, workloads: list[Workload], args: argparse.Namespace, stamp: str,
               result: dict[str, Any]) -> list[RunRecord]:
    records: list[RunRecord] = []
    options = {"w1_sends": args.w1_sends, "w4_messages": args.w4_messages, "w1_client": args.w1_client,
               "host_quiet_pct": args.host_quiet or None, "host_wait_s": args.host_wait,
               "rt_sender": args.rt_sender, "w2_messages": args.w2_messages, "w3_sizes": args.w3_size_list,
               "w3_rates": sorted(args.w3_rate_list), "w3_seconds": args.w3_seconds, "w3_raw": args.w3_raw,
               "w5_clients": args.w5_clients, "w5_idle_s": args.w5_idle}
    used = False  # W5 wants a server that has done nothing else
    with Server(config) as server:
        env = BenchEnv(server, options)
        params = {"db": config.label, "database": config.db,
                  "sqlite_synchronous": config.sqlite_synchronous if config.db == "sqlite" else None}
        try:
            for workload in workloads:
                if workload.prepare is not None:
                    prepared = workload.prepare(env)
                    result["prepare"].append({"workload": workload.name, **params, **prepared})
                    print(f"#   {workload.name} prepared: {prepared}", flush=True)
                    used = True
                reps: list[int | str] = list(range(1, args.reps + 1))
                if workload.name in args.profile_list:
                    reps.append("profile")
                for rep in reps:
                    if workload.fresh_server_per_rep and used:
                        env.close()
                        server.restart()
                    used = True
                    profile_file = None
                    if rep == "profile":
                        profile_file = args.out / f"{stamp}-{config.label.replace('/', '-')}-{workload.name}.collapsed"
                        env.profiler = Profiler(server.pid, profile_file, rate=args.profile_rate,
                                                idle=args.profile_idle, native=args.profile_native)
                    attempts = 1 + (max(0, args.busy_retries) if isinstance(rep, int) and args.host_quiet
                                    and workload.retry_when_busy else 0)
                    for attempt in range(1, attempts + 1):
                        if workload.fresh_server_per_rep and attempt > 1:  # a repeated W5 run needs one too
                            env.close()
                            server.restart()
                        produced = workload.run(env, rep if isinstance(rep, int) else 0)
                        if isinstance(produced, list):  # W3: a record per rung, checked for a busy host per rung
                            for record in produced:
                                record.rep = rep
                                record.params.update(params)
                            records += produced
                            break
                        record = produced
                        record.rep = rep
                        record.params.update(params)
                        # (in a profiled repetition py-spy itself is the "other" load)
                        busy = (args.host_quiet and isinstance(rep, int)
                                and record.cpu.get("other_pct", 0) > args.host_quiet)
                        if busy and attempt < attempts:
                            record.rep = f"{rep} (discarded: host busy)"
                            record.notes.append(f"other processes used {record.cpu['other_pct']} % of a core; "
                                                "repeated")
                            print(describe(record), flush=True)
                            records.append(record)
                            continue
                        if busy:
                            record.notes.append(f"host busy: other processes used {record.cpu['other_pct']} %")
                        break
                    env.profiler = None
                    if profile_file is not None and profile_file.exists():
                        result["profiles"][f"{config.label} {workload.name}"] = {
                            "file": str(profile_file), "idle": args.profile_idle, "native": args.profile_native,
                            "rate": args.profile_rate,
                            **summarize(profile_file)}
                    if isinstance(produced, list):
                        continue
                    print(describe(record), flush=True)
                    if profile_file is not None:
                        record.notes.append("profiled with py-spy (slower; other CPU % includes py-spy; "
                                            "not in the figures)")
                    records.append(record)
        finally:
            env.close()
            result["server_log"][config.label] = {"summary": server.log_summary(), "lines": server.log_lines(),
                                                  "error_lines": server.log_errors(),
                                                  "startup_s": round(server.startup_s, 2)}
    return records


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    known = registry()
    workloads = [known[name] for name in args.workload_list]
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {
        "server": "parley",
        "version": report.version(args.server_src),
        "host": report.host(),
        "config": {
            "databases": [c.label for c in configs(args)],
            "workloads": args.workload_list,
            "reps": args.reps,
            "sqlite_synchronous": args.sync_modes,
            "server": "python -m parley serve (uvicorn, one process), --log-level warning",
            "server_src": str(args.server_src) if args.server_src else "installed (editable) package",
            "load_generator": f"this process: http.client keep-alive, {JSON_LIB} parsing; W2/W3/W5: one asyncio "
                              "(uvloop) loop, raw websocket receivers, open-loop sender",
            "w1_sends": args.w1_sends,
            "w1_client": args.w1_client,
            "w4_messages": args.w4_messages,
            "rt_sender": args.rt_sender,
            "w3_sizes": args.w3_size_list,
            "w3_rates": sorted(args.w3_rate_list) or "default",
            "w3_raw": args.w3_raw,
            "started": stamp,
            "note": args.note,
            "host_quiet_pct": args.host_quiet,
            "host_wait_s": args.host_wait,
            "busy_retries": args.busy_retries,
        },
        "goals": {g.text: {"metric": g.key, "op": g.op, "value": g.value} for w in workloads for g in w.goals},
        "peers": {w.name: w.peers for w in workloads},
        "runs": [],
        "prepare": [],
        "server_log": {},
        "profiles": {},
    }
    if (args.w1_sends, args.w4_messages, args.w2_messages, args.w3_seconds, args.w5_clients, args.w5_idle) != (
            2000, 10000, 1000, 20.0, 1000, 30.0):
        print("# NOTE: non-standard message counts; these figures are not comparable with WORKLOADS.md")
    started = time.perf_counter()
    records: list[RunRecord] = []
    for config in configs(args):
        records += run_config(config, workloads, args, stamp, result)
    result["runs"] = [r.as_dict() for r in records]
    result["config"]["total_s"] = round(time.perf_counter() - started, 1)
    path = args.out / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    h = result["host"]
    print(f"\n## parley {result['version']['package']} ({result['version']['git_commit']}) on {h['cpu_model']}, "
          f"{h['cores']} cores, {h['memory_gib']} GiB; generator shares the cores\n")
    for workload in workloads:
        print(report.runs_table(workload, [r for r in records if r.workload == workload.name]) + "\n")
    print(report.summary(workloads, records) + "\n")
    for label, profile in result["profiles"].items():
        print(report.profile_table(label, profile) + "\n")
    for label, log in result["server_log"].items():
        if log["lines"]:
            print(f"### server log {label} ({log['error_lines']} error lines; full text in the JSON)\n")
            print("\n".join(f"    {line}" for line in log["summary"]) + "\n")
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
