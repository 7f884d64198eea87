"""W1 send: sequential send throughput (WORKLOADS.md).

1 conversation, members A and B (B has no receiver). A sends 50 warm-up text messages, the server is left to
quiesce, then A sends 2,000 text messages sequentially over one keep-alive connection with one user token.
Client and server share the cores and every send waits for the previous one, so the generator's own CPU per
send adds to every round trip: by default the requests are pre-built and go over a raw socket (`RawSender`);
`--w1-client http.client` uses the standard library client instead.
"""

from __future__ import annotations

import json
import time

from parleybench.client import TRANSPORT_ERRORS, Client, RawSender
from parleybench.env import BenchEnv, RunRecord
from parleybench.stats import percentile, text_message
from parleybench.workloads import Column, Goal, Workload

WARMUP = 50
SENDS = 2_000


def send_bodies(sender_member: str, run: str, first_seq: int, count: int) -> list[bytes]:
    """Request bodies prepared before the clock starts (keeps the generator's CPU off the measured path)."""
    return [
        json.dumps({"type": "message", "from": sender_member,
                    "body": {"message_type": "text", "text": text_message(run, seq)}},
                   separators=(",", ":")).encode()
        for seq in range(first_seq, first_seq + count)
    ]


Measured = tuple[list[float], list[str], float, dict[str, float | bool]]


def _measure_http_client(env: BenchEnv, client: Client, path: str, bodies: list[bytes]) -> Measured:
    """Sequential sends with `http.client` over the client's keep-alive connection."""
    meter = env.cpu_meter()
    latencies: list[float] = []
    errors: list[str] = []
    connection, headers = client.connection, client.headers
    perf = time.perf_counter
    meter.start()
    first_start = perf()
    last_end = first_start
    for body in bodies:  # fixed count, sequential: send i+1 starts after send i completed
        start = perf()
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            data = response.read()
            status = response.status
        except TRANSPORT_ERRORS as exc:
            last_end = perf()
            errors.append(f"transport: {exc!r}")
            client.reconnect()
            connection = client.connection
            continue
        last_end = perf()
        if status == 201:
            latencies.append(last_end - start)
        else:
            errors.append(f"{status}: {data[:200]!r}")
    wall = last_end - first_start
    return latencies, errors, wall, meter.stop(wall)


def _measure_raw(env: BenchEnv, port: int, token: str, path: str, bodies: list[bytes]) -> Measured:
    """Sequential sends of pre-built requests over one raw socket (the leanest generator)."""
    sender = RawSender(port, token)
    requests = [sender.request_bytes("POST", path, body) for body in bodies]
    sender.connect()
    meter = env.cpu_meter()
    latencies: list[float] = []
    errors: list[str] = []
    perf = time.perf_counter
    exchange = sender.exchange
    meter.start()
    first_start = perf()
    last_end = first_start
    for request in requests:  # fixed count, sequential
        start = perf()
        try:
            status, data = exchange(request)
        except TRANSPORT_ERRORS as exc:
            last_end = perf()
            errors.append(f"transport: {exc!r}")
            sender.connect()
            continue
        last_end = perf()
        if status == 201:
            latencies.append(last_end - start)
        else:
            errors.append(f"{status}: {data[:200]!r}")
    wall = last_end - first_start
    cpu = meter.stop(wall)
    sender.close()
    return latencies, errors, wall, cpu


def run(env: BenchEnv, rep: int) -> RunRecord:
    sends = int(env.options.get("w1_sends", SENDS))
    conversation, (a, _b) = env.conversation_with_members("w1", 2)
    client = env.client(sub=a.user_name)  # A logs in as itself; one token for the whole run
    path = f"/v1/conversations/{conversation}/events"
    run_tag = env.tag()
    bodies = send_bodies(a.member_id, run_tag, 0, WARMUP + sends)
    warmup_errors = 0
    for body in bodies[:WARMUP]:
        try:
            status, _ = client.raw("POST", path, body)
        except TRANSPORT_ERRORS:
            status = 0
            client.reconnect()
        warmup_errors += status != 201

    quiet = env.quiesce()
    env.profile_start()
    kind = str(env.options.get("w1_client", "raw"))
    if kind == "raw":
        latencies, errors, wall, cpu = _measure_raw(env, client.port, client.token, path, bodies[WARMUP:])
    else:
        client.reconnect(now=True)  # the server drops keep-alive connections idle for 5 s; connecting is setup
        latencies, errors, wall, cpu = _measure_http_client(env, client, path, bodies[WARMUP:])
    env.profile_stop()
    client.close()

    ms = [x * 1000.0 for x in latencies]
    metrics = {
        "sends_per_s": round(sends / wall, 1) if wall > 0 else 0.0,
        "latency_p50_ms": round(percentile(ms, 50), 3),
        "latency_p99_ms": round(percentile(ms, 99), 3),
        "latency_mean_ms": round(sum(ms) / len(ms), 3) if ms else None,
        "latency_max_ms": round(max(ms), 3) if ms else None,
        "errors": len(errors),
        "ok_sends": len(latencies),
    }
    notes = []
    if errors:
        notes.append(f"{len(errors)} failed sends, first: {errors[0]}")
    if warmup_errors:
        notes.append(f"{warmup_errors} failed warm-up sends")
    return RunRecord("W1", rep, {"sends": sends, "warmup": WARMUP, "members": 2, "token": "user (sub=A)",
                                 "connection": f"1 keep-alive connection ({kind})", "conversation": conversation},
                     metrics, cpu, wall, quiet.as_dict(), notes)


WORKLOAD = Workload(
    name="W1",
    title="W1 send: 2,000 sequential sends",
    run=run,
    columns=(Column("sends_per_s", "sends/s"), Column("latency_p50_ms", "p50 ms", "{:.2f}"),
             Column("latency_p99_ms", "p99 ms", "{:.2f}"), Column("errors", "errors")),
    headline="sends_per_s",
    goals=(Goal("sends_per_s", ">=", 1500, "W1 ≥ 1,500 sends/s on SQLite"),),
    peers={"Synapse 1.163.2": "51 sends/s", "ejabberd 23.01": "518-633 sends/s"},
)
