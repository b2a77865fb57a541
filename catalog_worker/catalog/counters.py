"""What the task reports after each applied batch: counters for the metrics endpoint
and, for batches, one log line naming the products (product_id:version).

Per batch this costs one small upsert of this process's counter row (outside the
apply transaction, so it never holds the batch's locks) and, only when DEBUG is on,
one line per event. Counting is best effort: a counter write that fails is logged
and skipped, never retried or allowed to fail the task.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from django.db import DatabaseError, connection

from catalog.models import SyncCounter
from catalog.services import ApplyResult
from sync_contract import ProductEvent
from sync_contract.logs import product_versions

logger = logging.getLogger("catalog.tasks")

_TABLE = SyncCounter._meta.db_table
COUNT_SQL = f"""
    INSERT INTO {_TABLE} (shard, applied, skipped, batches, updated_at) VALUES (%s, %s, %s, 1, now())
    ON CONFLICT (shard) DO UPDATE
       SET applied = {_TABLE}.applied + EXCLUDED.applied,
           skipped = {_TABLE}.skipped + EXCLUDED.skipped,
           batches = {_TABLE}.batches + 1,
           updated_at = EXCLUDED.updated_at
"""  # noqa: S608 - the table name is a constant


def note_batch(*, task_id: str | None, events: Sequence[ProductEvent], result: ApplyResult) -> None:
    """Count the batch and, for more than one event, log which products it carried."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(COUNT_SQL, [os.getpid() % SyncCounter.SHARDS, result.applied, result.stale])
    except DatabaseError as exc:
        logger.warning("could not count task_id=%s in the sync counters: %s", task_id, exc)
    if len(events) > 1:
        logger.info(
            "batch of %d events task_id=%s: applied=%d stale=%d products=%s",
            len(events), task_id, result.applied, result.stale,
            product_versions((e.product_id, e.version) for e in events),
        )
        if logger.isEnabledFor(logging.DEBUG):
            for e in events:
                logger.debug("in task_id=%s: event_id=%s product_id=%s version=%s op=%s",
                             task_id, e.event_id, e.product_id, e.version, e.op)


def counter_totals() -> tuple[int, int, int]:
    """(applied, skipped, batches) over all shards."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(sum(applied), 0), coalesce(sum(skipped), 0), "  # noqa: S608
                       f"coalesce(sum(batches), 0) FROM {_TABLE}")
        applied, skipped, batches = cursor.fetchone()
    return int(applied), int(skipped), int(batches)
