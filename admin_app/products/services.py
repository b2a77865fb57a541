"""The one way to change a product: each call saves the product with version + 1
and writes its outbox event in one transaction. Nothing here talks to the broker;
the relay (``manage.py relay_outbox``) publishes committed events."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, NamedTuple, ParamSpec, TypeVar

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from products import spool, sql
from products.models import OutboxEvent, Product
from products.validation import PRODUCT_FIELDS as PRODUCT_FIELDS  # the fields a change may carry
from products.validation import clean_row

SKU_UNIQUE_CONSTRAINT = "products_product_sku_key"


def _write(sql: str, product: Product) -> None:
    """Run one of the statements above for ``product`` (its fields as they are now)."""
    now = timezone.now()
    params = {name: getattr(product, name) for name in PRODUCT_FIELDS}
    params.update(id=product.pk, version=product.version, now=now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (product_id,) = cursor.fetchone()
    product.pk = product_id
    product.updated_at = now
    if product._state.adding:
        product.created_at = now
        product._state.adding = False
        product._state.db = connection.alias


def _check_fields(data: dict[str, Any]) -> None:
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"not product fields: {sorted(unknown)}")


def _validate(product: Product) -> None:
    # Fields are checked here; the sku's uniqueness is left to the database's unique
    # index (see _unique_sku_errors): one query fewer per change, and no window
    # between a check and the write.
    product.full_clean(validate_unique=False, validate_constraints=False)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _unique_sku_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report a duplicate sku, caught by the unique index, as a field error."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except IntegrityError as exc:
            diag = getattr(exc.__cause__, "diag", None)
            if getattr(diag, "constraint_name", "") == SKU_UNIQUE_CONSTRAINT:
                raise ValidationError({"sku": ["A product with this sku already exists."]}) from exc
            raise

    return wrapper


@_unique_sku_errors
@transaction.atomic
def product_create(*, data: dict[str, Any]) -> Product:
    _check_fields(data)
    product = Product(**data, version=1)
    _validate(product)
    _write(sql.CREATE_SQL, product)
    return product


@_unique_sku_errors
@transaction.atomic
def product_update(*, product_id: int, data: dict[str, Any]) -> Product:
    """Apply ``data`` to the product under a row lock, so concurrent edits get distinct versions."""
    _check_fields(data)
    product = Product.objects.select_for_update().get(pk=product_id)
    for field, value in data.items():
        setattr(product, field, value)
    product.version += 1
    _validate(product)
    _write(sql.UPDATE_SQL, product)
    return product


@transaction.atomic
def product_delete(*, product_id: int) -> None:
    """Delete the product; the catalog keeps a tombstone at the new version."""
    product = Product.objects.select_for_update().get(pk=product_id)
    _write(sql.DELETE_SQL, product)


@transaction.atomic
def product_delete_many(*, product_ids: Iterable[int]) -> int:
    """Delete several products, each with its own versioned event (the admin's bulk delete)."""
    count = 0
    for product_id in sorted(product_ids):  # a fixed lock order: no deadlock between two bulk deletes
        product_delete(product_id=product_id)
        count += 1
    return count


# --- Imports: every row validated first, then applied in chunks ------------------------

# Rows per json batch: one statement each; memory holds one batch at a time.
IMPORT_BATCH = 5000
# Rows per apply transaction of a spooled import: the relay publishes a chunk while the
# next commits (docs/decisions/0024-import-commits-in-chunks.md).
IMPORT_APPLY_CHUNK = 5000
# Errors an import reports (it counts them all).
MAX_IMPORT_ERRORS = 100


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int = 0


@dataclass(frozen=True)
class RowError:
    line: int  # the row's line in its file (its position, from 1, in a list)
    field: str  # a product field, or "non_field_errors" for the row as a whole
    message: str


class SourceRow(NamedTuple):
    """A row as a reader found it: its line and fields, or what made it unreadable."""

    line: int
    data: dict[str, Any]
    errors: tuple[RowError, ...] = ()


class ImportRejected(ValidationError):
    """Nothing was written: ``errors`` (the first MAX_IMPORT_ERRORS) of ``count`` in all."""

    def __init__(self, errors: list[RowError], count: int) -> None:
        super().__init__([f"line {e.line}: {e.field}: {e.message}" for e in errors])
        self.row_errors, self.count = errors, count


class ImportStopped(Exception):
    """The database failed, or Ctrl-C came, while applying: the first ``applied`` of ``total`` rows are committed."""

    def __init__(self, applied: int, total: int, error: DatabaseError | KeyboardInterrupt) -> None:
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error).strip() or type(error).__name__
        super().__init__(
            f"import stopped after {applied} of {total} rows were applied: {reason.splitlines()[0]}; "
            "run it again to apply the rest"
        )
        self.applied, self.total, self.error = applied, total, error


class _Errors:
    def __init__(self) -> None:
        self.shown: list[RowError] = []
        self.count = 0

    def add(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.count += 1
            if len(self.shown) < MAX_IMPORT_ERRORS:
                self.shown.append(error)


def _numbered(rows: Iterable[dict[str, Any] | SourceRow]) -> Iterator[SourceRow]:
    for position, row in enumerate(rows, start=1):
        yield row if isinstance(row, SourceRow) else SourceRow(line=position, data=row)


def _batches(rows: Iterable[SourceRow], errors: _Errors) -> Iterator[list[dict[str, Any]]]:
    """The cleaned rows, each with its line, in batches; each invalid row goes to ``errors``."""
    batch: list[dict[str, Any]] = []
    size = IMPORT_BATCH
    for row in rows:
        if row.errors:
            errors.add(row.errors)
            continue
        cleaned, invalid = clean_row(row.data)
        if invalid:
            errors.add(RowError(row.line, name, message) for name, messages in invalid.items() for message in messages)
        elif not errors.count:  # after an error only count the others
            cleaned["line"] = row.line
            batch.append(cleaned)
            if len(batch) == size:
                yield batch
                batch = []
    yield batch


def product_import(
    *, rows: Iterable[dict[str, Any] | SourceRow], progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Create or update many products, matched by sku, as a catalogue import does.

    Each row is a whole product (description, image_url and is_active default as on
    create). Per row the outcome is that of product_create / product_update: a new sku is
    created at version 1, a changed one gets version + 1, each with one outbox event;
    a row identical to the product is left alone (no version, no event). Every row is
    validated before any is written: any invalid row, or a sku given twice, writes
    nothing and raises ``ImportRejected`` listing the errors by line and field. Then the
    rows are applied in sku order, IMPORT_APPLY_CHUNK rows per transaction (one
    transaction for an import of one batch); a database failure there raises
    ``ImportStopped``: earlier chunks stay committed, and running the same rows again
    completes the import (the applied rows are identical by then). ``rows`` may be any
    iterable: it is read once, a batch at a time (memory stays flat); ``progress`` gets
    the number of rows read after each batch.
    """
    errors, read, spooled, now = _Errors(), 0, False, timezone.now()
    first: list[dict[str, Any]] = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # reading: nothing written but the spool
            with ExitStack() as writing:
                for batch in _batches(_numbered(rows), errors):
                    read += len(batch)
                    if progress is not None:
                        progress(read)
                    if not first and not spooled:
                        first = batch
                        continue
                    if not spooled:  # more than one batch: spool them all, apply them at the end
                        writer, spooled = writing.enter_context(spool.writing(cursor)), True
                        writer.add(first)
                        first = []
                    if batch:
                        writer.add(batch)
            if not errors.count:
                _report_repeats(*_repeated_skus(cursor, first, spooled), errors)
            if errors.count:
                raise ImportRejected(errors.shown, errors.count)
        if not spooled and not first:
            return ImportResult(created=0, updated=0)
        created, updated = _apply_spool(read, now) if spooled else _apply_batch(first, now)
    finally:
        if spooled:
            spool.drop()
    return ImportResult(created=created, updated=updated, unchanged=read - created - updated)


def _apply_batch(rows: list[dict[str, Any]], now: Any) -> tuple[int, int]:
    rows.sort(key=lambda r: r["sku"])  # one lock order: concurrent imports do not deadlock
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.IMPORT_SQL, {"rows": json.dumps(rows), "now": now})
            created, updated = cursor.fetchone()
    except DatabaseError as exc:
        raise ImportStopped(0, len(rows), exc) from exc
    return int(created), int(updated)


def _apply_spool(total: int, now: Any) -> tuple[int, int]:
    try:
        return spool.apply_in_chunks(IMPORT_APPLY_CHUNK, now)
    except spool.ChunkFailed as failed:
        raise ImportStopped(failed.applied, total, failed.error) from failed.error


def _repeated_skus(cursor: Any, rows: list[dict[str, Any]], spooled: bool) -> tuple[list[tuple[str, list[int]]], int]:
    if spooled:
        return spool.repeated_skus(cursor, MAX_IMPORT_ERRORS)
    by_sku: dict[str, list[int]] = {}
    for row in rows:
        by_sku.setdefault(row["sku"], []).append(row["line"])
    groups = sorted(((sku, lines) for sku, lines in by_sku.items() if len(lines) > 1), key=lambda g: g[1][0])
    return groups, sum(len(lines) - 1 for _, lines in groups)


def _report_repeats(groups: list[tuple[str, list[int]]], repeats: int, errors: _Errors) -> None:
    message = "{sku!r} is already on line {first}: each sku may appear only once"
    shown = [
        RowError(line, "sku", message.format(sku=sku, first=lines[0])) for sku, lines in groups for line in lines[1:]
    ]
    errors.add(shown)
    errors.count += repeats - len(shown)


# --- Re-sending current state (resync, drift repair) -----------------------------------


@transaction.atomic
def product_resync(*, product_ids: Iterable[int]) -> int:
    """Write one outbox event per existing product carrying its current state and version.

    No version bump: the catalog applies the event only where it lags behind (a
    missing or older row) and skips it where it already holds this version, so a
    resync is harmless to repeat. ``occurred_at`` is the product's last change, so
    the lag the catalog reports for a repaired product is the real one. Unknown ids
    are ignored; returns how many events were written.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql.RESYNC_SQL, {"ids": sorted(set(product_ids))})
        written: int = cursor.rowcount
    return written


@transaction.atomic
def product_resync_after(*, after: int, limit: int) -> tuple[int, int | None]:
    """``product_resync`` of the next ``limit`` products with an id above ``after``, in id
    order; returns how many events were written and the last id (None when none was left)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.RESYNC_AFTER_SQL, {"after": after, "limit": limit})
        written, last = cursor.fetchone()
    return int(written), last


@transaction.atomic
def product_send_tombstone(*, product_id: int, version: int, data: dict[str, Any]) -> OutboxEvent:
    """Write a delete event for a product the admin no longer has (drift repair).

    ``data`` is the last known snapshot (the contract requires one on deletes too).
    Refuses a product that exists: that one is deleted with ``product_delete``.
    """
    if Product.objects.filter(pk=product_id).exists():
        raise ValidationError(f"product {product_id} exists; delete it with product_delete")
    return OutboxEvent.objects.create(
        product_id=product_id, version=version, op=OutboxEvent.Op.DELETE, data=data, occurred_at=timezone.now()
    )


@_unique_sku_errors
@transaction.atomic
def product_bump_version(*, product_id: int, above: int) -> Product:
    """Give the product a version above ``above`` (the catalog's) and send it, unchanged otherwise.

    For a catalog that holds a newer version than the admin (e.g. after the admin
    database was restored from a backup): the admin is the source of truth, so its
    state must win, which takes a higher version.
    """
    product = Product.objects.select_for_update().get(pk=product_id)
    product.version = max(product.version, above) + 1
    _write(sql.UPDATE_SQL, product)
    return product
