"""Admin metrics, read from the outbox and relay status tables at scrape time (see sync_contract.metrics).

- ``sync_outbox_backlog``: events waiting to be published;
- ``sync_outbox_oldest_pending_seconds``: age of the oldest of them (0 when none);
- ``sync_outbox_failing``: waiting events whose publish failed at least once;
- ``sync_relay_consecutive_failures{relay}`` and ``sync_relay_up{relay}`` of the relays seen recently;
- ``sync_drift_differences`` and ``sync_drift_ok`` of the last drift check.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from sync.health import outbox_summary
from sync.models import DriftCheck
from sync.relay_status import live_relays
from sync_contract.metrics import FunctionCollector, metrics_view


def collect() -> Iterator[Metric]:
    outbox = outbox_summary()
    yield GaugeMetricFamily("sync_outbox_backlog", "Outbox events waiting to be published.", value=outbox.backlog)
    yield GaugeMetricFamily(
        "sync_outbox_oldest_pending_seconds",
        "Age of the oldest waiting outbox event.",
        value=outbox.oldest_pending_age or 0.0,
    )
    yield GaugeMetricFamily(
        "sync_outbox_failing", "Waiting outbox events whose publish failed at least once.", value=outbox.failing
    )
    failures = GaugeMetricFamily(
        "sync_relay_consecutive_failures", "Failed publish rounds in a row, per relay.", labels=["relay"]
    )
    up = GaugeMetricFamily(
        "sync_relay_publishing", "1 if the relay's last publish attempt succeeded.", labels=["relay"]
    )
    for relay in live_relays():
        failures.add_metric([relay.relay_id], relay.consecutive_failures)
        up.add_metric([relay.relay_id], 0 if relay.failing else 1)
    yield failures
    yield up
    last = DriftCheck.objects.first()
    if last is not None:
        yield GaugeMetricFamily(
            "sync_drift_differences", "Differences found by the last drift check.", value=last.differences
        )
        yield GaugeMetricFamily(
            "sync_drift_ok",
            "1 if the last drift check found the catalog equal (or repaired).",
            value=1 if last.ok else 0,
        )
        yield GaugeMetricFamily(
            "sync_drift_last_run_timestamp_seconds", "When the last drift check ran.", value=last.ran_at.timestamp()
        )


metrics = metrics_view(lambda: [FunctionCollector(collect)])
