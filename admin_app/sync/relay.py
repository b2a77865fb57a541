"""The outbox relay: committed product events → broker, with confirms.

Loop: claim pending events (``FOR UPDATE SKIP LOCKED``, so relays can run side by
side), publish them in messages of up to ``RELAY_BATCH_SIZE`` events, mark each
row published only after its message was confirmed, commit. A failed publish
records the attempt and the error and backs the rows off exponentially with
jitter. Between rounds the relay sleeps on PostgreSQL ``LISTEN`` (the insert
trigger's ``NOTIFY`` is delivered at commit) with a polling fallback; after a round
that found a burst being committed it pauses ``RELAY_LINGER`` first (fuller messages), and
rounds that publish start at least ``RELAY_ROUND_INTERVAL`` apart (edits that come faster
share messages; a lone edit after a quiet spell goes at once). While rounds keep
publishing, the relay promises the next one and writers skip their NOTIFY (``sync.wakeup``).

Dying anywhere is safe: rows stay locked only inside the transaction, so a relay
killed after a publish but before its commit leaves the rows pending and they are
published again; the catalog skips the duplicate by version.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import psycopg2
from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper

from sync.drift_check import PeriodicDriftCheck
from sync.pacing import CatalogBacklog
from sync.prune import OutboxPruner
from sync.publisher import Publisher, PublishError
from sync.relay_status import RelayStatusRecorder
from sync.sql import CLAIM_SQL, MARK_FAILED_SQL, NEXT_DUE_SQL
from sync.wakeup import OutboxWakeup
from sync_contract.logs import event_fields, log_each_event, log_one_event, product_versions

logger = logging.getLogger(__name__)

LAST_ERROR_MAX = 2000
# A round that found this many events (not a full claim) saw a burst being committed: the
# relay lingers RELAY_LINGER before claiming again, so the burst goes out in fuller messages;
# single edits never linger (docs/decisions/0005-batch-size-and-linger.md).
BURST_EVENTS = 100
# A relay that could not give its promise up (a writer still in its transaction) claims again after this.
HANDOVER_RETRY = 0.05


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int
    claim_size: int
    poll_interval: float
    backoff_base: float
    backoff_max: float
    retention_seconds: float
    reconnect_max: float = 2.0
    linger: float = 0.0
    round_interval: float = 0.0
    backlog_interval: float = 0.0
    backlog_messages: int = 0

    @classmethod
    def from_settings(cls) -> RelayConfig:
        from django.conf import settings

        return cls(
            batch_size=settings.RELAY_BATCH_SIZE,
            claim_size=settings.RELAY_CLAIM_SIZE,
            poll_interval=settings.RELAY_POLL_INTERVAL,
            backoff_base=settings.RELAY_BACKOFF_BASE,
            backoff_max=settings.RELAY_BACKOFF_MAX,
            retention_seconds=settings.OUTBOX_RETENTION_HOURS * 3600,
            reconnect_max=settings.RELAY_RECONNECT_MAX,
            linger=settings.RELAY_LINGER,
            round_interval=settings.RELAY_ROUND_INTERVAL,
            backlog_interval=settings.RELAY_BACKLOG_INTERVAL,
            backlog_messages=settings.RELAY_BACKLOG_MESSAGES,
        )


@dataclass
class RoundResult:
    claimed: int = 0
    published: int = 0
    failed: int = 0
    error: str = ""


class ClaimedEvent(NamedTuple):
    """One claimed outbox row: its ids for the logs, and the event as the contract's JSON.
    A named tuple: built from the row as it is, a claim at a time of thousands."""

    outbox_id: int
    event_id: str
    product_id: int
    version: int
    op: str
    wire: str  # built by PostgreSQL; published as it is, never decoded here


def claim_events(cursor: CursorWrapper, limit: int) -> list[ClaimedEvent]:
    """Claim up to ``limit`` due events, oldest first."""
    cursor.execute(CLAIM_SQL, {"limit": limit})
    rows = cursor.fetchall()
    rows.sort()  # RETURNING has no order; publish oldest first (the outbox id comes first)
    return list(map(ClaimedEvent._make, rows))


def _argsrepr(events: Sequence[ClaimedEvent]) -> str:
    # What Flower and the task-sent event show instead of Celery's repr of the
    # whole batch (costly to build for hundreds of events, and unreadable).
    return f"[{len(events)} events: {product_versions(events)}]"


def relay_round(publisher: Publisher, config: RelayConfig) -> RoundResult:
    """Claim, publish and mark one batch of events in one transaction."""
    result = RoundResult()
    with transaction.atomic(), connection.cursor() as cursor:
        claimed = claim_events(cursor, config.claim_size)
        result.claimed = len(claimed)
        for start in range(0, len(claimed), config.batch_size):
            chunk = claimed[start : start + config.batch_size]
            try:
                task_id = publisher.publish([e.wire for e in chunk], argsrepr=_argsrepr(chunk))
            except PublishError as exc:
                # The broker is unwell: un-mark the rest of this round, back it off.
                failed_ids = [e.outbox_id for e in claimed[start:]]
                cursor.execute(
                    MARK_FAILED_SQL,
                    {
                        "error": str(exc)[:LAST_ERROR_MAX],
                        # A broker that cannot be reached is tried again soon (a connection
                        # attempt costs little); one that refused or returned the message, later.
                        "backoff_max": min(config.backoff_max, config.reconnect_max)
                        if exc.unreachable
                        else config.backoff_max,
                        "backoff_base": config.backoff_base,
                        "ids": failed_ids,
                    },
                )
                result.failed = len(failed_ids)
                result.error = str(exc)
                first = claimed[start]
                logger.warning(
                    "publish failed for %d events (first event_id=%s product_id=%s version=%s): %s",
                    len(failed_ids),
                    first.event_id,
                    first.product_id,
                    first.version,
                    exc,
                    extra={**event_fields(task_id=None, event=first), "events": len(failed_ids)},
                )
                break
            result.published += len(chunk)
            log_published(chunk, task_id)
    return result


def log_published(events: Sequence[ClaimedEvent], task_id: str) -> None:
    """A single event: one INFO line with its ids. A batch: one INFO line with its
    product_id:version pairs (truncated), and one DEBUG line per event only when
    DEBUG is on."""
    if len(events) == 1:
        log_one_event(logger, "published", task_id, events[0])
        return
    products = product_versions(events)
    logger.info(
        "published %d events in one message task_id=%s products=%s",
        len(events),
        task_id,
        products,
        extra={**event_fields(task_id=task_id), "events": len(events), "products": products},
    )
    log_each_event(logger, task_id, events)


def seconds_until_next_due() -> float | None:
    with connection.cursor() as cursor:
        cursor.execute(NEXT_DUE_SQL)
        (seconds,) = cursor.fetchone()
    return None if seconds is None else max(0.0, float(seconds))


class Relay:
    """The long-running loop behind ``manage.py relay_outbox``."""

    def __init__(self, publisher: Publisher, config: RelayConfig) -> None:
        self.publisher = publisher
        self.config = config
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.wakeup = OutboxWakeup()
        self.pruner = OutboxPruner(config.retention_seconds)
        self.backlog = CatalogBacklog(
            publisher.queue_depth, config.backlog_messages, enabled=config.backlog_interval > 0
        )
        self.status = RelayStatusRecorder()  # the admin's broker banner reads it
        self.drift = PeriodicDriftCheck.from_settings()  # a background thread, off the publishing path

    def stop(self) -> None:
        """Ask the loop to finish its current round and return (signal-safe)."""
        self._stopping = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def run(self) -> None:
        logger.info(
            "relay started: batch_size=%d claim_size=%d poll_interval=%.1fs",
            self.config.batch_size,
            self.config.claim_size,
            self.config.poll_interval,
        )
        db_backoff = 0.0
        self.drift.start()
        try:
            while not self._stopping:
                try:
                    self.wakeup.connect()
                    round_started = time.monotonic()
                    result = relay_round(self.publisher, self.config)
                    self.status.record_round(result)
                    self.pruner.maybe_prune()
                    backlog = result.claimed == self.config.claim_size and not result.failed
                    burst = (
                        not backlog and not result.failed and self.config.linger > 0 and result.claimed >= BURST_EVENTS
                    )
                    if result.published:
                        self.wakeup.promise()  # this relay claims again soon: writers need not NOTIFY
                    elif self.wakeup.promising and self.wakeup.end_promise():
                        continue  # claim once more what writers that skipped their NOTIFY committed
                    promised = self.wakeup.promising  # the next round comes without a NOTIFY
                    # Inside the try: it reads the database too. Only before a wait on LISTEN.
                    idle = None if backlog or burst or promised else self._idle_timeout()
                    db_backoff = 0.0
                except (DatabaseError, psycopg2.Error) as exc:
                    # The admin database restarted or is unreachable: reconnect after a pause.
                    # psycopg2.Error too: the LISTEN connection is psycopg2's own, not Django's.
                    db_backoff = min(
                        self.config.backoff_max,
                        self.config.reconnect_max,
                        max(self.config.backoff_base, db_backoff * 2),
                    )
                    logger.warning("admin database error (%s); retrying in %.1fs", exc, db_backoff)
                    self._close_db()
                    self._wait(db_backoff)
                    continue
                if result.published and not backlog and self.backlog.behind():
                    # The queue is not draining: rounds go further apart, fewer fuller messages (sync.pacing).
                    self._linger(round_started + self.config.backlog_interval - time.monotonic())
                elif burst:
                    self._linger(self.config.linger)  # then claim what the burst committed meanwhile
                elif not backlog:
                    if result.published:
                        # Per message, not per event, is what a single edit costs: edits that
                        # follow within the interval wait for it and share the next message
                        # (docs/decisions/0019-single-edit-cost.md).
                        self._linger(round_started + self.config.round_interval - time.monotonic())
                    elif promised:
                        self._linger(HANDOVER_RETRY)  # a writer is still in its transaction
                    if idle is None:
                        self._send_due_events()  # no NOTIFY comes while the promise stands: claim again
                    else:
                        self._wait(idle)
                # A backlog (no idle timeout): keep draining without waiting.
        finally:
            self.drift.stop()
            self.status.stopped()
            self.publisher.close()
            self._close_db()
            logger.info("relay stopped")

    def _idle_timeout(self) -> float:
        due = seconds_until_next_due()
        if due is None:
            return self.config.poll_interval
        return min(self.config.poll_interval, due)

    def _send_due_events(self) -> float | None:
        """Send the task-sent events when due; seconds until they are due, or None."""
        due = self.publisher.events_due_in()
        if due == 0:
            self.publisher.flush_events()
            return None
        return due

    def _wait(self, timeout: float) -> None:
        """Sleep until a NOTIFY, a stop request, or the timeout (sending task-sent events when due)."""
        if self._stopping:
            return
        due = self._send_due_events()
        if due is not None:
            timeout = min(timeout, due)
        if self.wakeup.wait(self._wake_r, timeout):
            os.read(self._wake_r, 1024)

    def _linger(self, seconds: float) -> None:
        """Pause without waking on NOTIFY (a stop request still ends it at once)."""
        if seconds > 0:
            select.select([self._wake_r], [], [], seconds)

    def _close_db(self) -> None:
        self.wakeup.close()
        connection.close()
