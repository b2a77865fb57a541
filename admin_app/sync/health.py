"""The sync health page (/admin/sync-health/, staff only) and what it shows.

Every figure is read when the page is shown; the broker and the catalog are asked
with short timeouts and show as "unknown" when they do not answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from celery import current_app
from django.conf import settings
from django.contrib import admin
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from products.models import OutboxEvent
from sync import catalog_client
from sync.catalog_client import LagPoint
from sync.models import DriftCheck
from sync.relay_status import live_relays, publishing_problem
from sync_contract.broker import queue_depth
from sync_contract.names import DEAD_LETTER_QUEUE

LAG_MINUTES = 15
BROKER_TIMEOUT = 1.5
CHART_WIDTH, CHART_HEIGHT = 600, 160


@dataclass(frozen=True)
class Outbox:
    backlog: int
    failing: int
    oldest_pending_age: float | None  # seconds


def outbox_summary() -> Outbox:
    pending = OutboxEvent.objects.filter(published_at__isnull=True)
    row = pending.aggregate(
        backlog=Count("pk"), failing=Count("pk", filter=Q(attempts__gt=0)), oldest=Min("occurred_at")
    )
    age = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else None
    return Outbox(backlog=row["backlog"], failing=row["failing"], oldest_pending_age=age)


def recent_errors(limit: int = 10) -> list[dict[str, Any]]:
    """The distinct errors of events still waiting, most frequent first."""
    rows = (
        OutboxEvent.objects.filter(published_at__isnull=True, attempts__gt=0)
        .exclude(last_error="")
        .values("last_error")
        .annotate(events=Count("pk"), products=Count("product_id", distinct=True))
        .order_by("-events")[:limit]
    )
    return list(rows)


def dead_letter_depth() -> int | None:
    depth = queue_depth(current_app, DEAD_LETTER_QUEUE, timeout=BROKER_TIMEOUT)
    return None if depth is None else depth.messages


class ChartPoint(TypedDict):
    xy: list[str]  # x, y
    p95: float
    count: int


class LagChart(TypedDict):
    width: int
    height: int
    top: float
    bottom_y: int
    p50: str  # polyline points
    p95: str
    points: list[ChartPoint]


def lag_chart(series: list[LagPoint], minutes: int) -> LagChart | None:
    """An inline-SVG chart of p50/p95 lag per bucket: polylines scaled to the page's box."""
    if not series:
        return None
    from datetime import datetime, timedelta

    end = timezone.now()
    start = end - timedelta(minutes=minutes)
    top = max(max(p["p95_seconds"] for p in series), 0.001)
    span = (end - start).total_seconds()

    def xy(point: LagPoint, key: Literal["p50_seconds", "p95_seconds"]) -> str:
        at = datetime.fromisoformat(point["start"])
        x = 40 + (CHART_WIDTH - 50) * max(0.0, min(1.0, (at - start).total_seconds() / span))
        y = 10 + (CHART_HEIGHT - 30) * (1 - point[key] / top)
        return f"{x:.1f},{y:.1f}"

    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": top,
        "bottom_y": CHART_HEIGHT - 20,
        "p50": " ".join(xy(p, "p50_seconds") for p in series),
        "p95": " ".join(xy(p, "p95_seconds") for p in series),
        "points": [
            {"xy": xy(p, "p95_seconds").split(","), "p95": p["p95_seconds"], "count": p["count"]} for p in series
        ],
    }


def sync_health(request: HttpRequest) -> HttpResponse:
    lag = catalog_client.lag(minutes=LAG_MINUTES)
    context = {
        **admin.site.each_context(request),
        "title": "Sync health",
        "outbox": outbox_summary(),
        "errors": recent_errors(),
        "relays": live_relays(),
        "problem": publishing_problem(),
        "dead_letters": dead_letter_depth(),
        "dead_letter_queue": DEAD_LETTER_QUEUE,
        "lag": lag,
        "lag_minutes": LAG_MINUTES,
        "chart": lag_chart(lag["series"], LAG_MINUTES) if lag else None,
        "drift": DriftCheck.objects.first(),
        "drift_interval": settings.DRIFT_CHECK_INTERVAL,
        "catalog_url": settings.CATALOG_API_URL,
    }
    return TemplateResponse(request, "sync/health.html", context)
