"""A large import's cleaned rows in a session temporary table, then applied from it in chunks.

The spool is written on a thread: PostgreSQL inserts one batch while Python reads and
cleans the next (the driver lets go of the GIL while it waits). Its skus get a unique
index, so a file without repeats costs one sort, and the chunks are index range scans
(docs/decisions/0024-import-commits-in-chunks.md, 0028-import-spool-overlap.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction

from products import sql


class SpoolWriter:
    """Batches into the spool, one insert in flight at a time, on one writer thread."""

    def __init__(self, cursor: Any) -> None:
        cursor.execute(sql.SPOOL_CREATE_SQL)
        # The driver's cursor: with DEBUG on, Django's would keep every batch in its query log.
        self._raw = cursor.cursor
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-spool")
        self._pending: Future[Any] | None = None

    def add(self, batch: list[dict[str, Any]]) -> None:
        body = io.StringIO()
        # Strings quoted (an empty one is not NULL); line and is_active bare.
        csv.writer(body, quoting=csv.QUOTE_NONNUMERIC).writerows(
            [row[name] for name in sql.SPOOL_COLUMNS] for row in batch
        )
        body.seek(0)
        self.flush()
        self._pending = self._thread.submit(self._raw.copy_expert, sql.SPOOL_COPY_SQL, body)

    def flush(self) -> None:
        """Wait for the insert in flight; raise what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the thread whatever happened: the transaction must not end under an insert."""
        try:
            if self._pending is not None:
                self._pending.exception()
        finally:
            self._thread.shutdown(wait=True)


@contextmanager
def writing(cursor: Any) -> Iterator[SpoolWriter]:
    writer = SpoolWriter(cursor)
    try:
        yield writer
        writer.flush()
    finally:
        writer.close()


def repeated_skus(cursor: Any, limit: int) -> tuple[list[tuple[str, list[int]]], int]:
    """The spool's skus given more than once with their lines (the first ``limit``), and the count of repeats.

    A unique index finds that there are none in one sort; only a file with repeats runs the
    grouping query. The index stays: the chunks read the spool through it.
    """
    try:
        with transaction.atomic():  # a savepoint: a failed index leaves the transaction usable
            cursor.execute(sql.SPOOL_INDEX_SQL)
        return [], 0
    except IntegrityError:
        cursor.execute(sql.SPOOL_DUPLICATES_SQL, {"limit": limit})
        found = cursor.fetchall()
        return [(sku, lines) for sku, lines, _ in found], (int(found[0][2]) if found else 0)


class ChunkFailed(Exception):
    """A chunk failed or was interrupted (Ctrl-C): the chunks before it, ``applied`` rows, are committed."""

    def __init__(self, applied: int, error: DatabaseError | KeyboardInterrupt) -> None:
        super().__init__(str(error))
        self.applied, self.error = applied, error


def apply_in_chunks(chunk: int, now: Any) -> tuple[int, int]:
    """Apply the spool ``chunk`` rows per transaction in sku order: (created, updated)."""
    created = updated = applied = 0
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SPOOL_CHUNKS_SQL, {"chunk": chunk})
            after = None
            for upto, through in cursor.fetchall():
                with transaction.atomic(), connection.cursor() as statement:
                    statement.execute(sql.IMPORT_CHUNK_SQL, {"after": after, "upto": upto, "now": now})
                    new, changed = statement.fetchone()
                created, updated, applied, after = created + new, updated + changed, through, upto
    except (DatabaseError, KeyboardInterrupt) as exc:
        raise ChunkFailed(applied, exc) from exc
    return created, updated


def drop() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SPOOL_DROP_SQL)
    except DatabaseError:
        pass  # the connection is gone, and its temporary table with it
