"""Counters of applied and skipped events, for the metrics endpoint.

The count is written by the batch's own statement (``catalog.sql.APPLY_SQL``): it commits
exactly when the batch does, at no extra round trip. Rows are sharded by pid
(``counter_shard``), so concurrent workers rarely touch the same row; a batch takes its
counter row after its catalog rows, so two batches cannot deadlock over it.
"""

from __future__ import annotations

import os

from django.db import connection

from catalog.models import SyncCounter
from catalog.sql import COUNTER_TOTALS_SQL


def counter_shard() -> int:
    """This process's counter row."""
    return os.getpid() % SyncCounter.SHARDS


def counter_totals() -> tuple[int, int, int]:
    """(applied, skipped, batches) over all shards."""
    with connection.cursor() as cursor:
        cursor.execute(COUNTER_TOTALS_SQL)
        applied, skipped, batches = cursor.fetchone()
    return int(applied), int(skipped), int(batches)
