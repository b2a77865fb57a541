"""Whether the catalog is behind, read from the sync queue, for the relay's pacing.

While the catalog does not drain the sync queue (no worker consumes it, or its database is
out and the messages pile up), what the relay publishes waits in the queue anyway: rounds
then go ``RELAY_BACKLOG_INTERVAL`` apart and carry more events per message, which the
worker drains faster once it is back. A live stream whose worker lags for a moment must
not be paced: its queue falls again between two readings
(docs/decisions/0021-recovery-timings.md, docs/decisions/0025-pacing-signal.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sync_contract.broker import QueueDepth

# The sync queue's depth is read at most this often (a passive declare on the held connection).
QUEUE_CHECK_SECONDS = 0.5
# A reading older than this (no round published meanwhile) is not compared with the next one.
READING_STALE_SECONDS = 2 * QUEUE_CHECK_SECONDS


def not_draining(previous: QueueDepth | None, current: QueueDepth | None, threshold: int) -> bool:
    """At least ``threshold`` messages wait and nobody consumes them, or they waited at the
    previous reading too and have not fallen since."""
    if current is None or current.messages < threshold:
        return False
    if current.consumers == 0:
        return True
    return previous is not None and threshold <= previous.messages <= current.messages


class CatalogBacklog:
    """Reads the queue's depth at most every QUEUE_CHECK_SECONDS and keeps the last verdict."""

    def __init__(
        self,
        read_depth: Callable[[], QueueDepth | None],
        threshold: int,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_depth = read_depth
        self._threshold = threshold
        self._enabled = enabled
        self._clock = clock
        self._checked = float("-inf")
        self._previous: QueueDepth | None = None
        self._behind = False

    def behind(self) -> bool:
        if not self._enabled:
            return False
        now = self._clock()
        if now - self._checked >= QUEUE_CHECK_SECONDS:
            previous = self._previous if now - self._checked <= READING_STALE_SECONDS else None
            self._checked = now
            current = self._read_depth()
            self._behind = not_draining(previous, current, self._threshold)
            self._previous = current
        return self._behind
