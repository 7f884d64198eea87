"""W3 fan-out: one sender, N receivers, a rising rate ladder (WORKLOADS.md), plus the raw ceiling.

Per N and repetition: N fresh users joined to a fresh conversation, every one with a logged-in `/rtc` socket
(the sender's own is connected but not counted). The sender sends open-loop at R msgs/s for 20 s per rung, rungs
ascending and 3 s apart, until the first rung where achieved < 90 % of offered deliveries/s, or p99 > 5 s, or a
message is lost. WORKLOADS.md's ladder stops at 50 msgs/s; ours goes on (75, 100, 150 ...) until parley
saturates. Then one more step at 80 % of the saturation (the best achieved deliveries/s) for its p99.

The raw ceiling, in the same run: the same N receivers on `parleybench.rawcast` (a bare broadcast: one prebuilt
websocket frame written to each socket's transport), the same frames, the ladder from parley's sustainable rate
upwards.
"""

from __future__ import annotations

import asyncio
from typing import Any

from parleybench.env import BenchEnv, RunRecord
from parleybench.procstat import CpuMeter, Quiesce, quiesce
from parleybench.report import DASH
from parleybench.server import RawCastServer
from parleybench.step import Target, measure
from parleybench.workloads import Column, Workload
from parleybench.workloads.w2_deliver import target_for
from parleybench.ws import RestSender, RtcClient, connect_all, raise_fd_limit, run_async

SIZES = (100, 500, 1000)
RATES = (0.5, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000)
SECONDS = 20.0
DRAIN_S = 30.0
GAP_S = 3.0
P99_LIMIT_MS = 5000.0
AT_SATURATION = 0.8


def passed(metrics: dict[str, Any]) -> bool:
    return (metrics["achieved_per_s"] >= 0.9 * metrics["offered_per_s"] and metrics["lost"] == 0
            and (metrics["p99_ms"] or 0) <= P99_LIMIT_MS)


class Ladder:
    def __init__(self, env: BenchEnv, rep: int, n: int, label: str, pid: int, db_pids: list[int]) -> None:
        self.env, self.rep, self.n, self.label, self.pid, self.db_pids = env, rep, n, label, pid, db_pids
        self.records: list[RunRecord] = []

    def _quiesce(self) -> Quiesce:
        options = self.env.options
        return quiesce(self.pid, host_max_pct=options.get("host_quiet_pct"),
                       host_wait_s=float(options.get("host_wait_s", 0)), db_pids=self.db_pids)

    async def step(self, target: Target, clients: list[RtcClient], rate: float, kind: str,
                   step: str) -> dict[str, Any]:
        seconds = float(self.env.options.get("w3_seconds", SECONDS))
        messages = max(1, round(seconds * rate))
        quiet = await asyncio.to_thread(self._quiesce)
        # one profiled step per repetition (py-spy's output file is per workload): the first N's 80 % step
        profiled = (self.label == "parley" and step == "80 % of saturation" and self.env.profiler is not None
                    and not self.env.state.get("w3_profiled"))
        self.env.state["w3_profiled"] = self.env.state.get("w3_profiled") or profiled
        if profiled:
            self.env.profile_start()
        metrics, cpu, wall = await measure(target, clients, self.env.tag(), rate, messages, DRAIN_S,
                                           CpuMeter(self.pid, self.db_pids), seconds)
        if profiled:
            self.env.profile_stop()
        metrics = {"target": self.label, "n": self.n, **metrics, "passed": passed(metrics)}
        notes = []
        if metrics["send_errors"]:
            notes.append(f"{metrics['send_errors']} failed sends, first: {metrics.get('first_send_error')}")
        if metrics["receivers_alive"] != len(clients):
            notes.append(f"only {metrics['receivers_alive']} of {len(clients)} sockets alive")
        if cpu.get("other_pct", 0) > float(self.env.options.get("host_quiet_pct") or 1e9):
            notes.append(f"host busy: other processes used {cpu['other_pct']} %")
        self.records.append(RunRecord("W3", self.rep, {"n": self.n, "target": self.label, "rate": rate,
                                                       "step": step, "sender": kind, "seconds": seconds},
                                      metrics, cpu, wall, quiet.as_dict(), notes))
        print(f"#     W3 {self.label} N={self.n} R={rate}: offered {metrics['offered_per_s']}/s achieved "
              f"{metrics['achieved_per_s']}/s p50 {metrics['p50_ms']} p99 {metrics['p99_ms']} ms lost "
              f"{metrics['lost']} dup {metrics['duplicated']} server {cpu['server_pct']}% gen "
              f"{cpu['client_pct']}% other {cpu['other_pct']}%", flush=True)
        await asyncio.sleep(GAP_S)
        return metrics

    async def climb(self, target: Target, clients: list[RtcClient], rates: list[float], kind: str) -> None:
        best = 0.0
        saturated = False
        for rate in rates:
            metrics = await self.step(target, clients, rate, kind, "ladder")
            best = max(best, float(metrics["achieved_per_s"]))
            if not metrics["passed"]:
                saturated = True
                break
        if saturated and self.label == "parley":
            rate = round(AT_SATURATION * best / (self.n - 1), 1)
            if rate > 0:
                await self.step(target, clients, rate, kind, "80 % of saturation")

    def sustainable(self) -> float:
        ok = [float(r.params["rate"]) for r in self.records if r.params["step"] == "ladder" and r.metrics["passed"]]
        return max(ok) if ok else 0.0


async def _parley(env: BenchEnv, rep: int, n: int, rates: list[float], kind: str) -> Ladder:
    conversation, members = env.conversation_with_members("w3", n)
    clients = [RtcClient(m.user_name, env.token(m.user_name), counted=index != 0) for index, m in enumerate(members)]
    failures = await connect_all(clients, env.server.port)
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} receivers failed to connect, first: {failures[0]}")
    target = await target_for(env, kind, conversation, members[0].user_name, members[0].member_id, clients[0])
    ladder = Ladder(env, rep, n, "parley", env.server.pid, env.server.db_pids())
    try:
        await ladder.climb(target, clients, rates, kind)
    finally:
        if target.rest is not None:
            target.rest.close()
        for client in clients:
            await client.close()
    return ladder


async def _raw(env: BenchEnv, rep: int, n: int, rates: list[float], server: RawCastServer) -> Ladder:
    clients = [RtcClient(f"raw-{i}", "-", counted=i != 0) for i in range(n)]
    failures = await connect_all(clients, server.port)
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} raw receivers failed to connect, first: {failures[0]}")
    rest = RestSender(server.port, "-", "/cast")
    target = Target("raw", "CON-raw", "MEM-raw", rest=rest)
    ladder = Ladder(env, rep, n, "raw", server.pid, [])
    try:
        await ladder.climb(target, clients, rates, "rest")
    finally:
        rest.close()
        for client in clients:
            await client.close()
    return ladder


def run(env: BenchEnv, rep: int) -> list[RunRecord]:
    sizes = [int(x) for x in env.options.get("w3_sizes") or SIZES]
    rates = [float(x) for x in env.options.get("w3_rates") or RATES]
    kind = str(env.options.get("rt_sender", "rest"))
    raise_fd_limit(2 * max(sizes) + 256)
    records: list[RunRecord] = []
    for n in sizes:
        parley = run_async(_parley(env, rep, n, rates, kind))
        records += parley.records
        if env.options.get("w3_raw", True):
            start = parley.sustainable()
            raw_rates = [r for r in rates if r >= start] or rates[-1:]
            with RawCastServer(env.server.config.source) as server:
                records += run_async(_raw(env, rep, n, raw_rates, server)).records
    return records


def _best(records: list[RunRecord], label: str, n: int) -> float:
    return max((float(r.metrics["achieved_per_s"]) for r in records
                if r.metrics["target"] == label and r.metrics["n"] == n), default=0.0)


def _gen(record: RunRecord) -> float:
    return float(record.metrics.get("gen_sending_pct", record.cpu["client_pct"]))


def summary(records: list[RunRecord]) -> str:
    """Per N and repetition: parley's sustainable rate and saturation, the raw ceiling, p99 at 80 %."""
    rows = []
    keys = sorted({(r.metrics["n"], r.rep) for r in records if isinstance(r.rep, int)}, key=lambda k: (k[0], k[1]))
    for n, rep in keys:
        mine = [r for r in records if r.metrics["n"] == n and r.rep == rep]
        parley = [r for r in mine if r.metrics["target"] == "parley"]
        ok = [r for r in parley if r.params["step"] == "ladder" and r.metrics["passed"]]
        at80 = next((r for r in parley if r.params["step"] != "ladder"), None)
        best, raw = _best(mine, "parley", n), _best(mine, "raw", n)
        top = max(ok, key=lambda r: float(r.params["rate"])) if ok else None
        rows.append([str(n), str(rep),
                     f"{top.params['rate']:g} msgs/s = {top.metrics['achieved_per_s']:,.0f}/s" if top else DASH,
                     f"{best:,.0f}", f"{raw:,.0f}" if raw else DASH, f"{100 * best / raw:.0f} %" if raw else DASH,
                     f"{at80.params['rate']:g}: p50 {at80.metrics['p50_ms']} / p99 {at80.metrics['p99_ms']} ms"
                     if at80 else DASH,
                     str(sum(int(r.metrics["lost"]) for r in parley if r.metrics["passed"] or r is at80)),
                     str(sum(int(r.metrics["duplicated"]) for r in mine)),
                     f"{max((_gen(r) for r in mine), default=0):.0f}"])
    header = ["N", "rep", "sustainable (parley)", "best achieved/s (parley)", "raw ceiling/s", "parley / raw",
              "80 % of saturation: R, latency", "lost (passing rungs)", "duplicated", "max gen CPU % (sending)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "### W3 summary\n\n" + "\n".join(lines)


WORKLOAD = Workload(
    name="W3",
    title="W3 fan-out: one sender, N receivers, rising rates (20 s per rung)",
    run=run,  # type: ignore[arg-type]
    columns=(Column("target", "target", "{}"), Column("n", "N"), Column("rate", "R msgs/s", "{:g}"),
             Column("offered_per_s", "offered/s", "{:,.0f}"), Column("achieved_per_s", "achieved/s", "{:,.0f}"),
             Column("p50_ms", "p50 ms", "{:.1f}"), Column("p99_ms", "p99 ms", "{:.1f}"), Column("lost", "lost"),
             Column("duplicated", "dup"), Column("send_errors", "errors"), Column("passed", "pass"),
             Column("server_sending_pct", "server % sending"), Column("gen_sending_pct", "gen % sending"),
             Column("drain_s", "drain s", "{:.1f}")),
    headline="achieved_per_s",
    summarize=summary,
    retry_when_busy=False,
    peers={"Synapse 1.163.2": "~925 deliveries/s at N=100; ~250 at N=500",
           "ejabberd 23.01": "≥ 24,926 deliveries/s at N=500 (generator-bound)"},
)
