"""W4 catch-up: fetch a 10,000-message history page by page (WORKLOADS.md).

Setup (once per server, not timed): a conversation with members A and B, seeded with 10,000 text messages by A
over a few concurrent keep-alive connections. Each repetition: quiesce, then a fresh client for B (a new user
token, a new connection) pages through all events with page_size=100, oldest first, following `_links.next`
until there is none.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from parleybench.client import TRANSPORT_ERRORS, Client, loads, local_path
from parleybench.env import BenchEnv, RunRecord
from parleybench.workloads import Column, Goal, Workload
from parleybench.workloads.w1_send import send_bodies

MESSAGES = 10_000
PAGE_SIZE = 100
SEED_CLIENTS = 4


def _seed(client: Client, path: str, bodies: list[bytes], failed: list[bytes]) -> None:
    for body in bodies:
        try:
            status, _ = client.raw("POST", path, body)
        except TRANSPORT_ERRORS:
            status = 0
            client.reconnect()
        if status != 201:
            failed.append(body)
    client.close()


def prepare(env: BenchEnv) -> dict[str, Any]:
    messages = int(env.options.get("w4_messages", MESSAGES))
    conversation, (a, b) = env.conversation_with_members("w4", 2)
    path = f"/v1/conversations/{conversation}/events"
    bodies = send_bodies(a.member_id, env.tag(), 0, messages)
    slices = [bodies[i::SEED_CLIENTS] for i in range(SEED_CLIENTS)]
    failed: list[list[bytes]] = [[] for _ in range(SEED_CLIENTS)]
    started = time.perf_counter()
    threads = [threading.Thread(target=_seed, args=(env.client(sub=a.user_name), path, part, failed[i]))
               for i, part in enumerate(slices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    seconds = time.perf_counter() - started
    first_failures = sum(len(f) for f in failed)
    retry_failed: list[bytes] = []
    if first_failures:  # setup, not a measured send: one sequential second attempt
        _seed(env.client(sub=a.user_name), path, [body for part in failed for body in part], retry_failed)
    env.state["w4"] = {"conversation": conversation, "reader": b.user_name, "messages": messages}
    return {"seed_messages": messages, "seed_clients": SEED_CLIENTS, "seed_s": round(seconds, 2),
            "seed_sends_per_s": round(messages / seconds, 1), "seed_failures": first_failures,
            "seed_failures_after_retry": len(retry_failed)}


def events_of(page: Any) -> list[dict[str, Any]]:
    embedded = page.get("_embedded", {})
    events = embedded.get("events", []) if isinstance(embedded, dict) else embedded
    return list(events)


def run(env: BenchEnv, rep: int) -> RunRecord:
    state = env.state["w4"]
    messages: int = state["messages"]
    max_requests = math.ceil(messages / PAGE_SIZE) + 20  # bounded, whatever the links say
    quiet = env.quiesce()
    client = env.client(sub=state["reader"])  # a fresh login and connection for B (minting is not timed)
    port = env.server.port
    path: str | None = f"/v1/conversations/{state['conversation']}/events?page_size={PAGE_SIZE}"
    requests = text_messages = total_events = received_bytes = 0
    errors: list[str] = []
    ids: set[int] = set()
    slowest = 0.0
    env.profile_start()
    meter = env.cpu_meter()
    meter.start()
    first_start = time.perf_counter()
    while path is not None and requests < max_requests:
        start = time.perf_counter()
        requests += 1
        try:
            status, data = client.raw("GET", path)
        except TRANSPORT_ERRORS as exc:
            errors.append(f"transport: {exc!r}")
            break
        slowest = max(slowest, time.perf_counter() - start)
        received_bytes += len(data)
        if status != 200:
            errors.append(f"{status}: {data[:200]!r}")
            break
        page = loads(data)
        for event in events_of(page):
            total_events += 1
            ids.add(event["id"])
            text_messages += event.get("type") == "message"
        following = page.get("_links", {}).get("next")
        path = local_path(following["href"], port) if following else None
    wall = time.perf_counter() - first_start
    cpu = meter.stop(wall)
    env.profile_stop()
    client.close()

    notes = []
    if text_messages != messages:
        notes.append(f"expected {messages} text messages, got {text_messages}")
    if len(ids) != total_events:
        notes.append(f"{total_events - len(ids)} duplicated events")
    if path is not None and not errors:
        notes.append(f"stopped at the {max_requests}-request bound")
    metrics = {
        "total_s": round(wall, 4),
        "requests": requests,
        "text_messages": text_messages,
        "events": total_events,
        "ok": text_messages == messages and not errors,
        "per_request_ms": round(1000.0 * wall / requests, 2) if requests else None,
        "slowest_request_ms": round(1000.0 * slowest, 2),
        "bytes": received_bytes,
        "errors": len(errors),
    }
    if errors:
        notes.append(f"first error: {errors[0]}")
    return RunRecord("W4", rep, {"messages": messages, "page_size": PAGE_SIZE, "order": "asc",
                                 "token": "fresh user token (sub=B)", "conversation": state["conversation"]},
                     metrics, cpu, wall, quiet.as_dict(), notes)


WORKLOAD = Workload(
    name="W4",
    title="W4 catch-up: 10,000 messages, page_size 100",
    run=run,
    prepare=prepare,
    columns=(Column("total_s", "total s", "{:.3f}"), Column("requests", "requests"),
             Column("text_messages", "text msgs"), Column("events", "events"),
             Column("per_request_ms", "ms/request", "{:.2f}"), Column("errors", "errors")),
    headline="total_s",
    goals=(Goal("total_s", "<=", 0.5, "W4 ≤ 0.5 s on SQLite"),),
    peers={"Synapse 1.163.2": "23.6-26.2 s", "ejabberd 23.01": "0.76-0.80 s"},
)
