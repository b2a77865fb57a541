"""What the catalog records for each applied batch: counters for the metrics
endpoint and one log line per message (a single event by its ids, a batch by its
product_id:version pairs).

The count is written by the batch's own statement (``COUNT_OUTCOME_SQL``, a part of
catalog.services' upsert): it commits exactly when the batch does, at no extra
round trip. Rows are sharded by pid (``counter_shard``), so concurrent workers
rarely touch the same row; a batch takes its counter row after its catalog rows,
so two batches cannot deadlock over it. ``log_applied`` writes the log line after
the commit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connection

from catalog.models import SyncCounter
from sync_contract import ProductEvent
from sync_contract.logs import product_versions

if TYPE_CHECKING:
    from catalog.services import ApplyResult

logger = logging.getLogger("catalog.tasks")

_TABLE = SyncCounter._meta.db_table
# Reads the batch's outcome (applied, stale) from the statement's ``outcome`` CTE.
COUNT_OUTCOME_SQL = f"""
    INSERT INTO {_TABLE} AS c (shard, applied, skipped, batches, updated_at)
    SELECT %(counter_shard)s, applied, stale, 1, now() FROM outcome
    ON CONFLICT (shard) DO UPDATE
       SET applied = c.applied + EXCLUDED.applied,
           skipped = c.skipped + EXCLUDED.skipped,
           batches = c.batches + 1,
           updated_at = EXCLUDED.updated_at
"""  # noqa: S608 - the table name is a constant


def counter_shard() -> int:
    """This process's counter row."""
    return os.getpid() % SyncCounter.SHARDS


def log_applied(*, task_id: str | None, events: Sequence[ProductEvent], result: ApplyResult) -> None:
    """One INFO line per message: a single event with its ids, a batch with its
    product_id:version pairs (truncated; one DEBUG line per event when DEBUG is on)."""
    if len(events) == 1:
        e = events[0]
        logger.info(
            "%s event_id=%s product_id=%s version=%s op=%s task_id=%s",
            "applied" if result.applied else "skipped stale", e.event_id, e.product_id, e.version, e.op, task_id,
        )
    else:
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
