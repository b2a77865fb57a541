"""Events and envelopes for the catalog tests, built through the contract."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from catalog.models import CatalogProduct
from sync_contract import ProductEvent, make_envelope

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def make_event(product_id: int, version: int, op: str = "upsert", **fields: Any) -> ProductEvent:
    """A valid event; unless given, the title and price tell which version it carries."""
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "product_id": product_id,
        "version": version,
        "op": op,
        "occurred_at": _EPOCH + timedelta(minutes=product_id * 1000 + version),
        "sku": f"SKU-{product_id}",
        "title": f"Product {product_id} v{version}",
        "description": "",
        "price": Decimal(f"{version}.50"),
        "image_url": "",
        "is_active": True,
    }
    values.update(fields)
    return ProductEvent(**values)


def make_wire_envelope(*events: ProductEvent) -> dict[str, Any]:
    """The task argument as the relay sends it."""
    return make_envelope([event.to_wire() for event in events])


def catalog_rows() -> list[dict[str, Any]]:
    """Every catalog row with every column, in a fixed order: a snapshot to compare."""
    return list(CatalogProduct.objects.order_by("product_id").values())
