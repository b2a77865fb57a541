"""Small statistics helpers (no numpy needed for the figures themselves)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of ``values`` (0 <= pct <= 100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]
    if math.isinf(ordered[high]):  # values never observed (e.g. not applied in time) count as infinite
        return math.inf
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def finite_or_none(value: float, digits: int = 2) -> float | None:
    """A figure for JSON: None when infinite (not measurable within the run's limits)."""
    return None if math.isinf(value) or math.isnan(value) else round(value, digits)


def bucketed(points: Sequence[tuple[float, float]], width: float) -> list[dict]:
    """(time, value) points -> one row per ``width``-second bucket with count, p50, p99, max."""
    buckets: dict[int, list[float]] = {}
    for t, v in points:
        buckets.setdefault(int(t // width), []).append(v)
    return [
        {
            "t": round(key * width, 3),
            "n": len(vals),
            "p50": round(percentile(vals, 50), 2),
            "p99": round(percentile(vals, 99), 2),
            "max": round(max(vals), 2),
        }
        for key, vals in sorted(buckets.items())
    ]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def verdict(name: str, value: object, ok: bool, target: str) -> str:
    """One target line of the summary: MET or MISS, the figure, the target."""
    return f"  {'MET ' if ok else 'MISS'} {name}: {value} (target {target})"
