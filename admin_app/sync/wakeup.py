"""How the relay is woken: LISTEN on the outbox's channel, and the promise that stands in for it.

The outbox's insert trigger NOTIFYs at commit, unless a relay holds the promise lock: a
relay that has just published promises to claim again within its round interval, so a
NOTIFY would only wake it early, and PostgreSQL serialises the commits of transactions
that notify. Each writing transaction holds the hand-over lock shared from before it
looks at the promise until it ends. Giving up the promise is: unlock it, take the
hand-over lock exclusively (wait for every writer that may have skipped its NOTIFY),
release it, claim once more. A writer that looked after the unlock NOTIFYs. If the
connection breaks, PostgreSQL drops both locks; the relay's next round claims what is
committed (migration products 0012; docs/decisions/0026-single-edits-at-the-same-rate.md).
"""

from __future__ import annotations

import logging
import select

import psycopg2
import psycopg2.extensions
from django.db import connection
from psycopg2.extensions import connection as PgConnection

from products.sql import NOTIFY_HANDOVER_LOCK, RELAY_PROMISE_LOCK

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "product_outbox"


class OutboxWakeup:
    """The relay's own connection (autocommit): it LISTENs, and holds the promise lock."""

    def __init__(self) -> None:
        self._conn: PgConnection | None = None
        self.promising = False

    def connect(self) -> None:
        if self._conn is None or self._conn.closed:
            conn: PgConnection = psycopg2.connect(**connection.get_connection_params())
            conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with conn.cursor() as cursor:
                cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._conn = conn
            self.promising = False

    def promise(self) -> None:
        """Promise another claim soon: writers stop notifying (if no other relay holds the promise)."""
        if self.promising or self._conn is None:
            return
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_PROMISE_LOCK])
            row = cursor.fetchone()
        self.promising = bool(row and row[0])

    def end_promise(self) -> None:
        """Give the promise up; returns once every writer that skipped its NOTIFY has ended."""
        if not self.promising or self._conn is None:
            return
        self.promising = False
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_PROMISE_LOCK])
            cursor.execute("SELECT pg_advisory_lock(%s)", [NOTIFY_HANDOVER_LOCK])
            cursor.execute("SELECT pg_advisory_unlock(%s)", [NOTIFY_HANDOVER_LOCK])

    def wait(self, wake_fd: int, timeout: float) -> bool:
        """Sleep until a NOTIFY, ``wake_fd`` is readable, or the timeout; True if ``wake_fd`` woke it."""
        watched: list[int | PgConnection] = [wake_fd]
        if self._conn is not None and not self._conn.closed:
            watched.append(self._conn)
        readable, _, _ = select.select(watched, [], [], timeout)
        if self._conn is not None and self._conn in readable:
            try:
                self._conn.poll()
                self._conn.notifies.clear()
            except psycopg2.Error:
                self.close()
        return wake_fd in readable

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self.promising = False
        if conn is not None and not conn.closed:
            conn.close()
