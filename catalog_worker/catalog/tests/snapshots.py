"""Catalog rows as a snapshot to compare."""

from __future__ import annotations

from typing import Any

from catalog.models import CatalogProduct


def catalog_rows() -> list[dict[str, Any]]:
    """Every catalog row with every column, in a fixed order."""
    return list(CatalogProduct.objects.order_by("product_id").values())
