"""The workloads, one module each. Adding W2/W3/W5 = adding a module with a `WORKLOAD` and listing it here."""

from __future__ import annotations

from collections.abc import Callable
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
    run: Callable[[BenchEnv, int], RunRecord]
    columns: tuple[Column, ...]
    headline: str  # the metric key summarised with its spread
    prepare: Callable[[BenchEnv], dict[str, Any]] | None = None  # shared setup, once per server (not timed)
    fresh_server_per_rep: bool = False  # W5: every repetition on a newly started server
    goals: tuple[Goal, ...] = ()
    peers: dict[str, str] = field(default_factory=dict)  # peer name -> figure on the reference box


def registry() -> dict[str, Workload]:
    from parleybench.workloads import w1_send, w4_catchup

    return {w.name: w for w in (w1_send.WORKLOAD, w4_catchup.WORKLOAD)}
