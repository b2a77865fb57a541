"""Valid product events to start from; each test changes what it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sync_contract import ProductEvent


def build_event(**overrides: Any) -> ProductEvent:
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "product_id": 7,
        "version": 3,
        "op": "upsert",
        "occurred_at": datetime(2024, 5, 17, 12, 30, 15, 123456, tzinfo=UTC),
        "sku": "SKU-7",
        "title": "Blue mug",
        "description": "Holds coffee.",
        "price": Decimal("12.50"),
        "image_url": "https://example.com/mug.png",
        "is_active": True,
    }
    fields.update(overrides)
    return ProductEvent(**fields)
