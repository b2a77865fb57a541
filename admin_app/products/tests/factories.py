"""Products for the admin tests, made through the service layer (the one write path)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction

from products.models import Product
from products.services import product_create

_sequence = itertools.count(1)


def product_data(**overrides: Any) -> dict[str, Any]:
    """Valid product fields with a unique sku."""
    n = next(_sequence)
    data: dict[str, Any] = {
        "sku": f"SKU-{n:05d}",
        "title": f"Product {n}",
        "description": "A product for tests.",
        "price": Decimal("12.50"),
        "image_url": "https://example.com/p.png",
        "is_active": True,
    }
    data.update(overrides)
    return data


def expected_event_data(product: Product) -> dict[str, Any]:
    """The data an event must carry for ``product``: its fields as the contract has them
    (price as a decimal string with two decimals)."""
    return {
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "price": f"{Decimal(product.price):.2f}",
        "image_url": product.image_url,
        "is_active": product.is_active,
    }


def make_product(**overrides: Any) -> Product:
    return product_create(data=product_data(**overrides))


def api_product_data(**overrides: Any) -> dict[str, Any]:
    """Valid product fields as JSON for the API (price as a string)."""
    data = product_data()
    data["price"] = str(data["price"])
    data.update(overrides)
    return data


class Boom(Exception):
    """Raised after a service call to roll the surrounding transaction back."""


def roll_back_after(call: Callable[[], object]) -> None:
    """Run ``call`` in a transaction that then fails (an error later in the same request)."""
    with transaction.atomic():
        call()
        raise Boom
