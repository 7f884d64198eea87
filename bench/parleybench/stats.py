"""Numbers: the workloads' text messages, nearest-rank percentiles, spreads."""

from __future__ import annotations

import math
from collections.abc import Sequence

TEXT_LENGTH = 64


def text_message(run: str, seq: int) -> str:
    """`b<run>-<seq>-` padded with `x` to exactly 64 ASCII characters (WORKLOADS.md, "text message")."""
    head = f"b{run}-{seq}-"
    if len(head) > TEXT_LENGTH:
        raise ValueError(f"run tag {run!r} is too long for a 64-character text message")
    return head + "x" * (TEXT_LENGTH - len(head))


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `pct` % of the samples at or below it."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(min, max) of the values; NaN when there are none."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    return min(finite), max(finite)
