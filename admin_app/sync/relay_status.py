"""The relay's own status, for the broker banner and the sync health page.

The relay calls ``RelayStatusRecorder.record_round`` after every round. It writes
the relay's row only when the state changes (publishing starts failing, or works
again) and otherwise at most every ``RELAY_STATUS_INTERVAL`` seconds as a heartbeat:
never per message. A round that claimed nothing says nothing about the broker (the
relay did not try), so it only refreshes the heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypedDict

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from products.models import OutboxEvent
from sync.models import RelayStatus

logger = logging.getLogger("sync.relay")

ERROR_MAX = 2000


class RoundOutcome(Protocol):
    """What a relay round reports (sync.relay.RoundResult)."""

    published: int
    failed: int
    error: str


class RelayStatusRecorder:
    def __init__(self, *, interval: float | None = None, relay_id: str | None = None) -> None:
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}"
        self.interval = settings.RELAY_STATUS_INTERVAL if interval is None else interval
        self.started_at = timezone.now()
        self.failures = 0
        self.last_error = ""
        self.last_attempt_at: datetime | None = None
        self.last_success_at: datetime | None = None
        self._written_at = float("-inf")

    def record_round(self, result: RoundOutcome) -> None:
        """After a relay round (its ``published``/``failed`` counts and ``error``)."""
        now = timezone.now()
        changed = False
        if result.failed:
            self.last_attempt_at = now
            changed = self.failures == 0
            self.failures += 1
            self.last_error = (result.error or "publish failed")[:ERROR_MAX]
        elif result.published:
            self.last_attempt_at = self.last_success_at = now
            changed = self.failures > 0
            self.failures = 0
            self.last_error = ""
        if changed or time.monotonic() - self._written_at >= self.interval:
            self.write()

    def write(self, *, stopped: bool = False) -> None:
        now = timezone.now()
        RelayStatus.objects.update_or_create(
            relay_id=self.relay_id,
            defaults={
                "started_at": self.started_at,
                "last_seen_at": now,
                "last_attempt_at": self.last_attempt_at,
                "last_success_at": self.last_success_at,
                "last_error": self.last_error,
                "consecutive_failures": self.failures,
                "stopped_at": now if stopped else None,
            },
        )
        self._written_at = time.monotonic()

    def stopped(self) -> None:
        """On a clean stop: the row says so, and the banner no longer counts this relay."""
        try:
            self.write(stopped=True)
        except Exception:
            logger.warning("could not record the relay's stop", exc_info=True)


# --- reading it back (banner, health page, metrics) ----------------------------------------


def live_relays() -> list[RelayStatus]:
    """Relays that wrote their row recently and did not stop, most recent first."""
    since = timezone.now() - timedelta(seconds=settings.RELAY_STATUS_STALE)
    return list(RelayStatus.objects.filter(stopped_at__isnull=True, last_seen_at__gte=since)[:50])


def relay_heartbeat_ready() -> str | None:
    """For /readyz: a relay wrote its heartbeat within RELAY_STATUS_STALE seconds."""
    try:
        if live_relays():
            return None
    except DatabaseError:
        return "relay heartbeat unknown (database unreachable)"
    return f"no relay heartbeat within {settings.RELAY_STATUS_STALE:g}s"


class PublishingProblem(TypedDict):
    kind: Literal["broker", "no_relay"]
    since: datetime
    error: str
    failures: int


def publishing_problem() -> PublishingProblem | None:
    """What the banner says, or None when publishing works (or nothing waits to go out).

    - every live relay fails to publish: the broker cannot be reached (or refuses);
    - no live relay while events wait longer than RELAY_STATUS_STALE: no relay runs.
    """
    relays = live_relays()
    if relays and all(r.failing for r in relays):
        worst = relays[0]
        return {
            "kind": "broker",
            "since": _failing_since(worst),
            "error": worst.last_error,
            "failures": worst.consecutive_failures,
        }
    if not relays:
        oldest = (
            OutboxEvent.objects.filter(published_at__isnull=True)
            .order_by("id")
            .values_list("occurred_at", flat=True)
            .first()
        )
        if oldest is not None and oldest < timezone.now() - timedelta(seconds=settings.RELAY_STATUS_STALE):
            return {"kind": "no_relay", "since": oldest, "error": "", "failures": 0}
    return None


def _failing_since(status: RelayStatus) -> datetime:
    return status.last_success_at or status.started_at
