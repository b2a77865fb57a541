"""Applying product events to the catalog: one versioned multi-row upsert per batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from psycopg2.extras import execute_values

from catalog.models import CatalogProduct
from sync_contract import ProductEvent

_TABLE = CatalogProduct._meta.db_table
_COLUMNS = (
    "product_id", "sku", "title", "description", "price", "image_url", "is_active",
    "version", "deleted", "event_id", "occurred_at", "applied_at",
)
_UPDATED = [c for c in _COLUMNS if c != "product_id"]

# The version rule lives in the WHERE: a row changes only for a strictly newer
# version, so a duplicate (equal) or late (older) event changes nothing, and a
# tombstone (deleted=true at version v) is replaced only by a version above v.
UPSERT_SQL = f"""
    INSERT INTO {_TABLE} ({", ".join(_COLUMNS)})
    VALUES %s
    ON CONFLICT (product_id) DO UPDATE
       SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)}
     WHERE {_TABLE}.version < EXCLUDED.version
    RETURNING product_id
"""  # noqa: S608 - identifiers are constants of this module, values go through execute_values
_TEMPLATE = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())"


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    stale: int


def newest_per_product(events: Iterable[ProductEvent]) -> list[ProductEvent]:
    """Keep only the highest version of each product, ordered by product id.

    One INSERT … ON CONFLICT cannot touch a row twice, and a fixed row order keeps
    two workers upserting overlapping batches from deadlocking.
    """
    newest: dict[int, ProductEvent] = {}
    for event in events:
        held = newest.get(event.product_id)
        if held is None or event.version > held.version:
            newest[event.product_id] = event
    return [newest[pid] for pid in sorted(newest)]


def catalog_apply_events(*, events: list[ProductEvent]) -> ApplyResult:
    """Apply a validated batch in one transaction; return how many applied and how many were stale."""
    rows = [
        (
            e.product_id, e.sku, e.title, e.description, e.price, e.image_url, e.is_active,
            e.version, e.op == "delete", e.event_id, e.occurred_at,
        )
        for e in newest_per_product(events)
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        applied = execute_values(cursor.cursor, UPSERT_SQL, rows, template=_TEMPLATE, page_size=len(rows), fetch=True)
    return ApplyResult(applied=len(applied), stale=len(events) - len(applied))
