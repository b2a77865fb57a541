"""Commit-to-applied lag: how long a product change took from the admin's commit
(``occurred_at``) to the catalog's apply (``applied_at``).

Read from the catalog rows themselves at query time, so nothing is written on the
hot path: each row holds the lag of its product's latest applied version. A product
changed twice within the window counts once (its latest apply); skipped duplicates
do not count. Uses the index on ``applied_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from catalog.sql import LAG_HISTOGRAM_SQL, LAG_SERIES_SQL, LAG_SUMMARY_SQL

SERIES_POINTS = 30
MAX_MINUTES = 24 * 60
# Upper bounds (seconds) of the metrics histogram's buckets, as LAG_HISTOGRAM_SQL counts them.
HISTOGRAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class LagPoint:
    start: datetime
    count: int
    p50: float
    p95: float


@dataclass(frozen=True)
class LagSummary:
    minutes: int
    count: int
    p50: float | None
    p95: float | None
    max: float | None
    series: list[LagPoint]


def lag_summary(*, minutes: int) -> LagSummary:
    """p50/p95 of the last ``minutes`` and a series of about SERIES_POINTS buckets."""
    seconds = minutes * 60
    bucket = max(1, seconds // SERIES_POINTS)
    with connection.cursor() as cursor:
        cursor.execute(LAG_SUMMARY_SQL, {"seconds": seconds})
        count, p50, p95, worst = cursor.fetchone()
        cursor.execute(LAG_SERIES_SQL, {"bucket": bucket, "seconds": seconds})
        series = [
            LagPoint(start=row[0], count=row[1], p50=float(row[2]), p95=float(row[3])) for row in cursor.fetchall()
        ]
    return LagSummary(minutes=minutes, count=count, p50=_float(p50), p95=_float(p95), max=_float(worst), series=series)


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class LagHistogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count)
    count: int
    total: float


def lag_histogram(*, minutes: int) -> LagHistogram:
    with connection.cursor() as cursor:
        cursor.execute(LAG_HISTOGRAM_SQL, {"seconds": minutes * 60})
        row = cursor.fetchone()
    cumulative = list(zip(HISTOGRAM_BUCKETS, row[: len(HISTOGRAM_BUCKETS)], strict=True))
    return LagHistogram(buckets=cumulative, count=row[-2], total=float(row[-1]))
