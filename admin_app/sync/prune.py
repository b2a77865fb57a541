"""Deleting published outbox rows after their retention, without stalling the relay."""

from __future__ import annotations

import logging
import time

from django.db import connection

from sync.sql import PRUNE_SQL

logger = logging.getLogger("sync.relay")

PRUNE_EVERY_SECONDS = 60.0
PRUNE_CHUNK = 5000
# At most this many chunks per prune, then publishing again for PRUNE_AGAIN_SECONDS: a
# backlog of a million published rows is pruned in steps of ~0.3 s, never in one stall
# of the relay (docs/performance.md#a-million-products).
PRUNE_MAX_CHUNKS = 10
PRUNE_AGAIN_SECONDS = 1.0


def prune_published(retention_seconds: float, *, max_chunks: int | None = None) -> int:
    """Delete published rows older than the retention, in chunks (short locks), at most
    ``max_chunks`` of them (None: until none is left)."""
    total = 0
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        with connection.cursor() as cursor:
            cursor.execute(PRUNE_SQL, {"retention_seconds": retention_seconds, "chunk": PRUNE_CHUNK})
            deleted: int = cursor.rowcount
        total += deleted
        chunks += 1
        if deleted < PRUNE_CHUNK:
            break
    return total


class OutboxPruner:
    """Prunes every PRUNE_EVERY_SECONDS, called by the relay between its rounds."""

    def __init__(self, retention_seconds: float) -> None:
        self.retention_seconds = retention_seconds
        self._last = 0.0

    def maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last >= PRUNE_EVERY_SECONDS:
            self._last = now
            deleted = prune_published(self.retention_seconds, max_chunks=PRUNE_MAX_CHUNKS)
            if deleted:
                logger.info("pruned %d published outbox events", deleted)
            if deleted >= PRUNE_MAX_CHUNKS * PRUNE_CHUNK:  # more is left: go on soon, after a round
                self._last = now - PRUNE_EVERY_SECONDS + PRUNE_AGAIN_SECONDS
