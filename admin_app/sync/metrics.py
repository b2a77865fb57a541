"""Admin metrics, read from the outbox and relay status tables at scrape time (see sync_contract.metrics).

- ``sync_outbox_backlog``: events waiting to be published;
- ``sync_outbox_oldest_pending_seconds``: age of the oldest of them (0 when none);
- ``sync_outbox_failing``: waiting events whose publish failed at least once;
- ``sync_relay_consecutive_failures{relay}`` and ``sync_relay_up{relay}`` of the relays seen recently;
- ``sync_drift_differences`` and ``sync_drift_ok`` of the last drift check;
- ``sync_queue_messages{queue}`` (ready messages) and ``sync_queue_consumers{queue}`` of the
  sync queue and the dead-letter queue, by a passive declare at scrape time, and
  ``sync_broker_up`` (0 when the broker did not answer: the two are then left out).
"""

from __future__ import annotations

from collections.abc import Iterator

from celery import current_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from sync.health import outbox_summary
from sync.models import DriftCheck
from sync.relay_status import live_relays
from sync_contract.broker import queue_depth
from sync_contract.metrics import FunctionCollector, metrics_view
from sync_contract.names import DEAD_LETTER_QUEUE, SYNC_QUEUE

BROKER_TIMEOUT = 1.5


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
    yield from queue_metrics()
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


def queue_metrics() -> Iterator[Metric]:
    messages = GaugeMetricFamily("sync_queue_messages", "Ready messages in the queue.", labels=["queue"])
    consumers = GaugeMetricFamily("sync_queue_consumers", "Consumers of the queue.", labels=["queue"])
    answered = True
    for queue in (SYNC_QUEUE, DEAD_LETTER_QUEUE):
        depth = queue_depth(current_app, queue, timeout=BROKER_TIMEOUT)
        if depth is None:
            answered = False
            break
        messages.add_metric([queue], depth.messages)
        consumers.add_metric([queue], depth.consumers)
    yield GaugeMetricFamily("sync_broker_up", "1 if the broker answered this scrape.", value=1 if answered else 0)
    if answered:
        yield messages
        yield consumers


metrics = metrics_view(lambda: [FunctionCollector(collect)])
