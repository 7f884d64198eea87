"""W5 idle connections: server memory per idle, logged-in `/rtc` socket (WORKLOADS.md).

Every repetition on a freshly started server: 1,000 users registered (members of no conversation), RSS₀ =
median of three samples 2 s apart; 1,000 receivers connect and log in (one per user) and stay idle for 30 s
(only Engine.IO pings and uvicorn's websocket pings); RSS₁ likewise; (RSS₁ - RSS₀) / 1,000 per client.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from parleybench.env import BenchEnv, RunRecord
from parleybench.procstat import process_tree, rss_kib
from parleybench.workloads import Column, Goal, Workload
from parleybench.ws import RtcClient, connect_all, raise_fd_limit, run_async

CLIENTS = 1_000
IDLE_S = 30.0
SAMPLES = 3
SAMPLE_GAP_S = 2.0


async def _rss(pid: int) -> tuple[int, list[int]]:
    samples = []
    for index in range(SAMPLES):
        if index:
            await asyncio.sleep(SAMPLE_GAP_S)
        samples.append(rss_kib(process_tree(pid)))
    return int(statistics.median(samples)), samples


async def _run(env: BenchEnv, clients_wanted: int, idle_s: float) -> tuple[dict[str, Any], dict[str, Any], float]:
    tag = env.tag()
    names = [f"w5-{tag}-u{i}" for i in range(clients_wanted)]
    for name in names:
        env.new_user(name)
    tokens = [env.token(name) for name in names]
    env.close()  # the setup connection is not an idle client
    pid = env.server.pid
    rss0, samples0 = await _rss(pid)
    clients = [RtcClient(name, token) for name, token in zip(names, tokens, strict=True)]
    meter = env.cpu_meter()
    meter.start()
    started = time.perf_counter()
    failures = await connect_all(clients, env.server.port)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(idle_s)
    rss1, samples1 = await _rss(pid)
    alive = sum(1 for c in clients if c.alive)
    compressed = sum(1 for c in clients if c.socket is not None and c.socket.compressed)
    wall = time.perf_counter() - started
    cpu = meter.stop(wall)
    for client in clients:
        await client.close()
    metrics = {
        "clients": clients_wanted,
        "connected_at_end": alive,
        "connect_failures": len(failures),
        "rss0_kib": rss0,
        "rss1_kib": rss1,
        "kib_per_client": round((rss1 - rss0) / clients_wanted, 1),
        "rss0_samples": samples0,
        "rss1_samples": samples1,
        "connect_s": round(connect_s, 2),
        "compressed_sockets": compressed,
    }
    if failures:
        metrics["first_failure"] = failures[0][:300]
    return metrics, cpu, wall


def run(env: BenchEnv, rep: int) -> RunRecord:
    clients = int(env.options.get("w5_clients", CLIENTS))
    idle_s = float(env.options.get("w5_idle_s", IDLE_S))
    raise_fd_limit(clients + 256)
    quiet = env.quiesce()
    metrics, cpu, wall = run_async(_run(env, clients, idle_s))
    notes = []
    if metrics["connected_at_end"] != clients:
        notes.append(f"only {metrics['connected_at_end']} of {clients} connected at the end")
    return RunRecord("W5", rep, {"clients": clients, "idle_s": idle_s, "memberships": "none",
                                 "server": "fresh process"}, metrics, cpu, wall, quiet.as_dict(), notes)


WORKLOAD = Workload(
    name="W5",
    title="W5 idle: 1,000 logged-in idle sockets, server RSS per connection",
    run=run,
    columns=(Column("kib_per_client", "KiB/client", "{:.1f}"), Column("rss0_kib", "RSS₀ KiB", "{:,}"),
             Column("rss1_kib", "RSS₁ KiB", "{:,}"), Column("connected_at_end", "connected"),
             Column("compressed_sockets", "deflate sockets")),
    headline="kib_per_client",
    fresh_server_per_rep=True,
    goals=(Goal("kib_per_client", "<=", 16.0, "W5 ≤ 16 KiB per connection"),),
    peers={"Synapse 1.163.2": "46.8-46.9 KiB", "ejabberd 23.01": "43.4-45.0 KiB"},
)
