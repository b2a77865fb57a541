"""Catalog metrics, computed from the database at scrape time (see sync_contract.metrics).

- ``catalog_sync_events_total{outcome="applied"|"skipped"}`` and ``catalog_sync_batches_total``:
  counters kept per batch by the task (catalog.counters).
- ``catalog_products{state="live"|"deleted"}``.
- ``catalog_sync_lag_recent_seconds``: a histogram of commit-to-applied lag of the rows
  applied in the last ``CATALOG_METRICS_LAG_MINUTES`` (a gauge histogram: it is
  recomputed at each scrape over that window, it does not only grow).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Q
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from catalog.counters import counter_totals
from catalog.lag import lag_histogram
from catalog.models import CatalogProduct
from sync_contract.metrics import FunctionCollector, metrics_view


def collect() -> Iterator[Metric]:
    applied, skipped, batches = counter_totals()
    events = CounterMetricFamily("catalog_sync_events", "Events handled by catalog.sync_products.", labels=["outcome"])
    events.add_metric(["applied"], applied)
    events.add_metric(["skipped"], skipped)
    yield events
    yield CounterMetricFamily("catalog_sync_batches", "Messages (batches) applied.", value=batches)

    counts = CatalogProduct.objects.aggregate(
        live=Count("pk", filter=Q(deleted=False)), deleted=Count("pk", filter=Q(deleted=True))
    )
    products = GaugeMetricFamily("catalog_products", "Catalog rows by state.", labels=["state"])
    products.add_metric(["live"], counts["live"])
    products.add_metric(["deleted"], counts["deleted"])
    yield products

    minutes = settings.CATALOG_METRICS_LAG_MINUTES
    histogram = lag_histogram(minutes=minutes)
    buckets = [(_le(bound), count) for bound, count in histogram.buckets] + [("+Inf", histogram.count)]
    yield GaugeHistogramMetricFamily(
        "catalog_sync_lag_recent_seconds",
        f"Commit-to-applied lag of the products applied in the last {minutes} minutes.",
        buckets=buckets,
        gsum_value=histogram.total,
    )


def _le(bound: float) -> str:
    return f"{bound:g}"


metrics = metrics_view(lambda: [FunctionCollector(collect)])
