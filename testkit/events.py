"""Product events for tests, as the contract has them and as they travel (wire dicts, envelopes).

One factory: ``product_event(product_id, version)`` is valid unless told otherwise, and its
title, price and timestamp tell which version it carries. Nothing here validates: a test
builds a bad event or envelope the same way, with the values it is about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync_contract import SCHEMA_VERSION, ProductEvent

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def product_event(product_id: int = 7, version: int = 3, op: str = "upsert", **fields: Any) -> ProductEvent:
    """A valid event; keyword arguments replace any field (with any value, valid or not)."""
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "product_id": product_id,
        "version": version,
        "op": op,
        "occurred_at": EPOCH + timedelta(minutes=product_id * 1000 + version),
        "sku": f"SKU-{product_id}",
        "title": f"Product {product_id} v{version}",
        "description": "",
        "price": Decimal(f"{version}.50"),
        "image_url": "",
        "is_active": True,
    }
    values.update(fields)
    return ProductEvent(**values)


def to_wire(event: ProductEvent) -> dict[str, Any]:
    """The event as it travels: a JSON object with the product fields under ``data``."""
    return {
        "event_id": event.event_id,
        "product_id": event.product_id,
        "version": event.version,
        "op": event.op,
        "occurred_at": event.occurred_at.isoformat(),
        "data": {
            "sku": event.sku,
            "title": event.title,
            "description": event.description,
            "price": str(event.price),
            "image_url": event.image_url,
            "is_active": event.is_active,
        },
    }


def wire_event(product_id: int = 7, version: int = 3, op: str = "upsert", **fields: Any) -> dict[str, Any]:
    """``to_wire(product_event(...))``."""
    return to_wire(product_event(product_id, version, op, **fields))


def envelope_of(*events: ProductEvent | dict[str, Any]) -> dict[str, Any]:
    """The task argument carrying ``events`` (ProductEvents or wire dicts), of any length."""
    return {
        "schema_version": SCHEMA_VERSION,
        "events": [to_wire(e) if isinstance(e, ProductEvent) else e for e in events],
    }
