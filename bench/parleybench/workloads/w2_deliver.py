"""W2 deliver: send-to-receive latency at a low rate (WORKLOADS.md).

1 conversation, members A (sender) and B (receiver). B's `/rtc` socket is connected and logged in before the
clock starts. A sends 1,000 text messages open-loop at 50 msgs/s: by REST (`POST .../events`, type `text`, over
a small pool of keep-alive connections; default) or by the socket's `text` request on A's own `/rtc` socket
(`--rt-sender socket`). Latency = B parsed the pushed `text` event - the send started.
"""

from __future__ import annotations

import asyncio
from typing import Any

from parleybench.env import BenchEnv, RunRecord
from parleybench.step import Target, measure
from parleybench.workloads import Column, Goal, Workload
from parleybench.ws import RestSender, RtcClient, run_async

MESSAGES = 1_000
RATE = 50.0
DRAIN_S = 10.0


async def target_for(env: BenchEnv, kind: str, conversation: str, sender_name: str, sender_member: str,
                     sender_socket: RtcClient | None) -> Target:
    if kind == "socket":
        assert sender_socket is not None
        return Target("socket", conversation, sender_member, socket=sender_socket)
    rest = RestSender(env.server.port, env.token(sender_name), f"/v1/conversations/{conversation}/events")
    return Target("rest", conversation, sender_member, rest=rest)


async def _run(env: BenchEnv, kind: str, messages: int) -> tuple[dict[str, Any], dict[str, Any], float, Any]:
    conversation, (a, b) = env.conversation_with_members("w2", 2)
    receiver = RtcClient(b.user_name, env.token(b.user_name))
    await receiver.connect(env.server.port)
    clients = [receiver]
    sender_socket = None
    if kind == "socket":
        sender_socket = RtcClient(a.user_name, env.token(a.user_name), counted=False)
        await sender_socket.connect(env.server.port)
        clients.append(sender_socket)
    target = await target_for(env, kind, conversation, a.user_name, a.member_id, sender_socket)
    quiet = await asyncio.to_thread(env.quiesce)  # in a thread: the sockets keep answering pings meanwhile
    env.profile_start()
    metrics, cpu, wall = await measure(target, clients, env.tag(), RATE, messages, DRAIN_S, env.cpu_meter(), 0.0)
    env.profile_stop()
    metrics["compressed"] = receiver.socket is not None and receiver.socket.compressed
    if target.rest is not None:
        metrics["sender_connections"] = target.rest.opened
        target.rest.close()
    for client in clients:
        await client.close()
    return metrics, cpu, wall, (quiet, conversation)


def run(env: BenchEnv, rep: int) -> RunRecord:
    kind = str(env.options.get("rt_sender", "rest"))
    messages = int(env.options.get("w2_messages", MESSAGES))
    metrics, cpu, wall, (quiet, conversation) = run_async(_run(env, kind, messages))
    notes = []
    if metrics["send_errors"]:
        notes.append(f"{metrics['send_errors']} failed sends, first: {metrics.get('first_send_error')}")
    if metrics["lost"] or metrics["duplicated"]:
        notes.append(f"lost {metrics['lost']}, duplicated {metrics['duplicated']}")
    return RunRecord("W2", rep, {"messages": messages, "rate": RATE, "sender": kind, "members": 2,
                                 "conversation": conversation}, metrics, cpu, wall, quiet.as_dict(), notes)


WORKLOAD = Workload(
    name="W2",
    title="W2 deliver: 1,000 messages at 50/s, send-to-receive latency",
    run=run,
    columns=(Column("p50_ms", "p50 ms", "{:.2f}"), Column("p99_ms", "p99 ms", "{:.2f}"),
             Column("max_ms", "max ms", "{:.1f}"), Column("send_p50_ms", "send p50 ms", "{:.2f}"),
             Column("send_p99_ms", "send p99 ms", "{:.2f}"), Column("lost", "lost"),
             Column("duplicated", "dup"), Column("send_errors", "errors"),
             Column("schedule_lag_ms", "lag ms", "{:.1f}")),
    headline="p99_ms",
    goals=(Goal("p99_ms", "<=", 10.0, "W2 p99 ≤ 10 ms"), Goal("lost", "<=", 0, "W2 nothing lost"),
           Goal("duplicated", "<=", 0, "W2 nothing duplicated")),
    peers={"Synapse 1.163.2": "p50 100-146 ms, p99 147-282 ms", "ejabberd 23.01": "p50 2.6 ms, p99 5.8-122 ms"},
)
