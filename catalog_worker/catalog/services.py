"""Applying product events to the catalog: one versioned multi-row upsert per batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from catalog.json_codec import dumps_text
from catalog.sql import APPLY_SQL
from sync_contract import ProductEvent


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    stale: int
    # (product_id, version) of the events a newer event of the same message replaced before
    # the upsert: skipped as older, reported so every committed change is accounted for.
    superseded: tuple[tuple[int, int], ...] = ()


# APPLY_SQL's result columns when no result is stored (an eager call, a test).
NO_TASK_RESULT: dict[str, Any] = dict.fromkeys(
    (
        "task_id",
        "status",
        "traceback",
        "meta",
        "content_encoding",
        "content_type",
        "periodic_task_name",
        "task_name",
        "task_args",
        "task_kwargs",
        "worker",
    )
)


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


def superseded_in_message(events: list[ProductEvent], newest: list[ProductEvent]) -> tuple[tuple[int, int], ...]:
    """(product_id, version) of each event ``newest_per_product`` left out, in message order."""
    if len(newest) == len(events):
        return ()
    kept = {id(e) for e in newest}
    return tuple((e.product_id, e.version) for e in events if id(e) not in kept)


def catalog_apply_events(
    *,
    events: list[ProductEvent],
    counter_shard: int | None = None,
    task_result: dict[str, Any] | None = None,
) -> ApplyResult:
    """Apply a validated batch in one statement; return how many applied and how many were stale.

    With ``counter_shard`` the batch is also counted in that counter row; with
    ``task_result`` (the result backend's row for the running task) its SUCCESS is
    stored, with the events a newer one of the same message superseded. All in the same
    statement, so all or nothing: its own transaction, or the caller's when there is one.
    """
    newest = newest_per_product(events)
    superseded = superseded_in_message(events, newest)
    batch = dumps_text(
        [
            {
                "product_id": e.product_id,
                "sku": e.sku,
                "title": e.title,
                "description": e.description,
                "price": str(e.price),
                "image_url": e.image_url,
                "is_active": e.is_active,
                "version": e.version,
                "deleted": e.op == "delete",
                "event_id": e.event_id,
                "occurred_at": e.occurred_at.isoformat(),
            }
            for e in newest
        ]
    )
    params = {
        **(task_result or NO_TASK_RESULT),
        "batch": batch,
        "total": len(events),
        "counter_shard": counter_shard,
        "superseded": f', "superseded": {dumps_text(superseded)}' if superseded else "",
    }
    with connection.cursor() as cursor:
        cursor.execute(APPLY_SQL, params)
        (applied,) = cursor.fetchone()
    return ApplyResult(applied=applied, stale=len(events) - applied, superseded=superseded)
