"""The one way to change a product: each call saves the product with version + 1
and writes its outbox event in one transaction. Nothing here talks to the broker;
the relay (``manage.py relay_outbox``) publishes committed events."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from products import sql
from products.models import OutboxEvent, Product, not_blank

PRODUCT_FIELDS = ("sku", "title", "description", "price", "image_url", "is_active")
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


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


_IMPORT_DEFAULTS = {"description": "", "image_url": "", "is_active": True}


def _clean_import_row(index: int, row: dict[str, Any]) -> dict[str, Any]:
    _check_fields(row)
    full = {**_IMPORT_DEFAULTS, **row}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in PRODUCT_FIELDS:
        value = full.get(name)
        quick = _QUICK_CLEAN[name](value)
        if quick is not _UNSURE:
            cleaned[name] = quick
            continue
        try:
            cleaned[name] = _IMPORT_FIELDS[name].clean(value, None)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError({f"rows[{index}]": [f"{name}: {'; '.join(m)}" for name, m in errors.items()]})
    cleaned["price"] = str(cleaned["price"])
    return cleaned


def _concrete_field(name: str) -> Field[Any, Any]:
    field = Product._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"Product.{name} is not a concrete field")
    return field


_IMPORT_FIELDS = {name: _concrete_field(name) for name in PRODUCT_FIELDS}

# The common, plainly valid value of each field, recognised without Django's field
# machinery (the most of an import's Python otherwise). Anything else, every invalid value
# included, is left to the field's own clean(), so the cleaned values and every error
# message stay Django's; a test compares the two on valid and invalid values of each field
# and fails when a field gains a validator these checks do not know
# (docs/decisions/0007-import-quick-clean.md).
_UNSURE = object()
# A field's quick check: the cleaned value, or _UNSURE.
QuickClean = Callable[[Any], object]


def _quick_text(field: Field[Any, Any]) -> QuickClean:
    limits = [field.max_length] + [v.limit_value for v in field.validators if isinstance(v, MaxLengthValidator)]
    max_length = min((limit for limit in limits if limit is not None), default=None)
    blank = field.blank and not_blank not in field.validators

    def quick(value: Any) -> object:
        if (
            type(value) is str
            and (blank or value.strip())
            and "\x00" not in value
            and (max_length is None or len(value) <= max_length)
        ):
            return value
        return _UNSURE

    return quick


# Up to 10 whole digits and 2 decimals, not negative: inside numeric(12,2) and >= 0.
_PLAIN_PRICE = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")


def _quick_price(value: Any) -> object:
    if type(value) is str and _PLAIN_PRICE.fullmatch(value):
        return Decimal(value)
    return _UNSURE


def _quick_image_url(value: Any) -> object:
    return "" if value == "" and type(value) is str else _UNSURE  # a non-empty URL goes to URLValidator


def _quick_bool(value: Any) -> object:
    return value if value is True or value is False else _UNSURE


_QUICK_CLEAN: dict[str, QuickClean] = {
    "sku": _quick_text(_IMPORT_FIELDS["sku"]),
    "title": _quick_text(_IMPORT_FIELDS["title"]),
    "description": _quick_text(_IMPORT_FIELDS["description"]),
    "price": _quick_price,
    "image_url": _quick_image_url,
    "is_active": _quick_bool,
}


@transaction.atomic
def product_import(*, rows: Sequence[dict[str, Any]]) -> ImportResult:
    """Create or update many products, matched by sku, as a catalogue import does.

    Each row is a whole product (description, image_url and is_active default as
    on create). The outcome is that of product_create/product_update per row: each
    change gets version + 1 and one outbox event, in one transaction; but it is
    written with one statement for the whole batch instead of three per row. All
    rows are validated first: one bad row rejects the batch (``ValidationError``
    naming the row) and writes nothing.
    """
    skus = [row.get("sku") for row in rows]
    if len(set(skus)) != len(skus):
        raise ValidationError({"sku": ["each sku may appear only once per import"]})
    cleaned = [_clean_import_row(index, row) for index, row in enumerate(rows)]
    if not cleaned:
        return ImportResult(created=0, updated=0)
    cleaned.sort(key=lambda r: r["sku"])  # one lock order: concurrent imports do not deadlock
    with connection.cursor() as cursor:
        cursor.execute(sql.IMPORT_SQL, {"rows": json.dumps(cleaned), "now": timezone.now()})
        versions = [version for (version,) in cursor.fetchall()]
    created = sum(1 for v in versions if v == 1)
    return ImportResult(created=created, updated=len(versions) - created)


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
