"""How the relay is woken: LISTEN on the outbox's channel, and the promise that stands in for it.

The outbox's insert trigger NOTIFYs at commit, unless a relay holds the promise lock: a
relay that has just published promises to claim again within its round interval, so a
NOTIFY would only wake it early, and PostgreSQL serialises the commits of transactions
that notify. Each writing transaction holds the hand-over lock shared from before it
looks at the promise until it ends. The relay gives the promise up only when it can take
the hand-over lock at once (no writer that may have skipped its NOTIFY is still in its
transaction; it never waits, so no writer queues behind it), then claims once more;
otherwise it keeps the promise and claims again after its round interval. A writer that
looks after the unlock NOTIFYs. If the connection breaks, PostgreSQL drops both locks; the
relay's next round claims what is committed (migration products 0012;
docs/decisions/0026-single-edits-at-the-same-rate.md).
"""

from __future__ import annotations

import select

import psycopg2
import psycopg2.extensions
from django.db import connection
from psycopg2.extensions import connection as PgConnection

from products.sql import NOTIFY_HANDOVER_LOCK, RELAY_PROMISE_LOCK

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

    def end_promise(self) -> bool:
        """Give the promise up unless a writer that may have skipped its NOTIFY is still in its
        transaction; True: given up (claim once more, then sleep on LISTEN), False: still promised."""
        if not self.promising or self._conn is None:
            return True
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [NOTIFY_HANDOVER_LOCK])
            row = cursor.fetchone()
            if not (row and row[0]):
                return False
            # Writers wait on the hand-over lock for these two statements, then see no promise.
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_PROMISE_LOCK])
            cursor.execute("SELECT pg_advisory_unlock(%s)", [NOTIFY_HANDOVER_LOCK])
        self.promising = False
        return True

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
