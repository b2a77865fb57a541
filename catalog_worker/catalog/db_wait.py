"""Waiting out a catalog database outage without spending a message's retries.

A task whose apply fails on a lost connection asks whether the database answers at all.
If it does not, the failure says nothing about the message: the task holds it (unacked,
so the worker takes no further message beyond its prefetch) and polls until the database
answers again, then applies it anew. Only errors while the database answers spend retries,
so only a message that keeps failing against a healthy database reaches the dead-letter
queue (docs/decisions/0017-recovery.md).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from sync_contract.logs import event_fields

logger = logging.getLogger(__name__)

# A "still waiting" line at most this often, so a long outage does not flood the log.
LOG_EVERY_SECONDS = 30.0


def database_answers() -> bool:
    """A fresh connection and ``SELECT 1``: does the catalog database answer now?"""
    connection.close()  # the failed one is unusable; a new connection tells the truth
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except (OperationalError, InterfaceError):
        connection.close()
        return False
    return True


def wait_for_database(task_id: str | None, error: Exception) -> float:
    """Block until the database answers; return the seconds waited (0 if it answered at once)."""
    if database_answers():
        return 0.0
    started = time.monotonic()
    logged = started
    logger.warning(
        "catalog database unreachable (%s); holding task_id=%s until it answers, polling every %.1fs",
        error,
        task_id,
        settings.CATALOG_DB_WAIT_INTERVAL,
        extra=event_fields(task_id=task_id),
    )
    while True:
        time.sleep(settings.CATALOG_DB_WAIT_INTERVAL)
        if database_answers():
            break
        now = time.monotonic()
        if now - logged >= LOG_EVERY_SECONDS:
            logged = now
            logger.warning(
                "catalog database still unreachable after %.0fs; holding task_id=%s",
                now - started,
                task_id,
                extra=event_fields(task_id=task_id),
            )
    waited = time.monotonic() - started
    logger.warning(
        "catalog database answers again after %.1fs; applying task_id=%s anew",
        waited,
        task_id,
        extra=event_fields(task_id=task_id),
    )
    return waited
