"""The workloads, one module each: a module with a `WORKLOAD`, listed in `registry()`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parleybench.env import BenchEnv, RunRecord


@dataclass(frozen=True)
class Column:
    """One column of the workload's markdown table: a metric key, its header and format."""

    key: str
    header: str
    fmt: str = "{:.0f}"


@dataclass(frozen=True)
class Goal:
    """A target for one metric, checked against every repetition's value."""

    key: str
    op: str  # ">=" | "<="
    value: float
    text: str
    dbs: tuple[str, ...] = ("sqlite",)

    def met(self, actual: float) -> bool:
        return actual >= self.value if self.op == ">=" else actual <= self.value


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    run: Callable[[BenchEnv, int], RunRecord | list[RunRecord]]  # W3: one record per (N, rate)
    columns: tuple[Column, ...]
    headline: str  # the metric key summarised with its spread
    prepare: Callable[[BenchEnv], dict[str, Any]] | None = None  # shared setup, once per server (not timed)
    fresh_server_per_rep: bool = False  # W5: every repetition on a newly started server
    goals: tuple[Goal, ...] = ()
    peers: dict[str, str] = field(default_factory=dict)  # peer name -> figure on the reference box
    summarize: Callable[[Sequence[RunRecord]], str] | None = None  # its own summary instead of the headline's
    retry_when_busy: bool = True  # W3 checks the host per rung: repeating a whole ladder costs minutes


def registry() -> dict[str, Workload]:
    from parleybench.workloads import w1_send, w2_deliver, w3_fanout, w4_catchup, w5_idle

    return {w.name: w for w in (w1_send.WORKLOAD, w2_deliver.WORKLOAD, w3_fanout.WORKLOAD, w4_catchup.WORKLOAD,
                                w5_idle.WORKLOAD)}
