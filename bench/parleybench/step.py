"""One measured real-time step, shared by W2 and W3: open-loop sends at a fixed rate, receivers counting
deliveries, a bounded drain, then the figures of WORKLOADS.md (latency percentiles, lost, duplicated, rates)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from parleybench.procstat import CpuMeter
from parleybench.stats import percentile, text_message
from parleybench.ws import Deliveries, OpenLoop, RestSender, RtcClient

DRAIN_POLL_S = 0.01
WARM_CONNECTIONS = 4  # sender connections opened before each step (more are opened when all are busy)


@dataclass
class Target:
    """Where a step sends: parley (REST events or the socket's `text` request) or the raw broadcast server."""

    kind: str  # "rest" | "socket" | "raw"
    conversation: str
    sender_member: str
    rest: RestSender | None = None
    socket: RtcClient | None = None

    def sender(self, deliveries: Deliveries, run: str) -> Callable[[int], Awaitable[Any]]:
        conversation, member = self.conversation, self.sender_member
        if self.kind == "socket":
            assert self.socket is not None
            socket = self.socket
            import orjson

            frames = [b"42" + orjson.dumps(["text", {"tid": f"{run}-{seq}", "cid": conversation,
                                                     "body": {"text": text_message(run, seq)}}])
                      for seq in range(deliveries.messages)]
            return lambda seq: socket.send_request(f"{run}-{seq}", frames[seq])
        assert self.rest is not None
        rest = self.rest
        if self.kind == "raw":
            requests = [rest.prepare({"cid": conversation, "from": member, "text": text_message(run, seq)})
                        for seq in range(deliveries.messages)]
        else:
            requests = [rest.prepare({"type": "text", "from": member, "body": {"text": text_message(run, seq)}})
                        for seq in range(deliveries.messages)]
        return lambda seq: rest.send(requests[seq])


async def measure(target: Target, receivers: list[RtcClient], run: str, rate: float, messages: int,
                  drain_s: float, meter: CpuMeter, min_span_s: float) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Send `messages` at `rate`; returns (metrics, cpu, wall seconds). Requests are built before the clock."""
    deliveries = Deliveries(run, messages)
    send = target.sender(deliveries, run)
    counted = [r for r in receivers if r.counted]
    for receiver in receivers:
        receiver.watch(deliveries)
    expected = len(counted) * messages
    if target.rest is not None:
        await target.rest.warm(WARM_CONNECTIONS)
    loop = OpenLoop(deliveries, rate, send)
    meter.start()
    await loop.run()
    last_start = time.perf_counter()
    # CPU while sending, apart from the drain: at saturation a long drain would otherwise dilute the figure
    sending = meter.stop(last_start - loop.t0)
    deadline = last_start + drain_s
    while deliveries.unique < expected and time.perf_counter() < deadline:
        await asyncio.sleep(DRAIN_POLL_S)
    await loop.finish(max(0.0, deadline - time.perf_counter()))
    expected -= len(counted) * len(loop.unsent)
    ended = time.perf_counter()
    wall = ended - loop.t0
    cpu = meter.stop(wall)
    cpu.update({f"sending_{key}": value for key, value in sending.items() if key.endswith("_pct")})
    for receiver in receivers:
        receiver.watch(None)
    ms = sorted(x * 1000.0 for x in deliveries.latencies)
    sends_ms = sorted(x * 1000.0 for x in loop.completions)
    span = max(min_span_s, (deliveries.last_at - loop.t0) if deliveries.last_at else 0.0)
    metrics: dict[str, Any] = {
        "rate": rate,
        "messages": messages,
        "receivers": len(counted),
        "offered_per_s": round(rate * len(counted), 1),
        "achieved_per_s": round(deliveries.unique / span, 1) if span > 0 else 0.0,
        "p50_ms": round(percentile(ms, 50), 2) if ms else None,
        "p99_ms": round(percentile(ms, 99), 2) if ms else None,
        "max_ms": round(ms[-1], 2) if ms else None,
        "send_p50_ms": round(percentile(sends_ms, 50), 2) if sends_ms else None,
        "send_p99_ms": round(percentile(sends_ms, 99), 2) if sends_ms else None,
        "expected": expected,
        "delivered": deliveries.unique,
        "lost": expected - deliveries.unique,
        "duplicated": deliveries.duplicated,
        "send_errors": len(loop.errors),
        "unsent": len(loop.unsent),
        "schedule_lag_ms": round(1000.0 * loop.lag_s, 1),
        "span_s": round(span, 2),
        "drain_s": round(ended - last_start, 2),
        "receivers_alive": sum(1 for r in receivers if r.alive),
        "server_sending_pct": sending["server_pct"],
        "gen_sending_pct": sending["client_pct"],
    }
    if loop.errors:
        metrics["first_send_error"] = loop.errors[0][:300]
    if deliveries.foreign:
        metrics["foreign_frames"] = deliveries.foreign
    return metrics, cpu, wall
