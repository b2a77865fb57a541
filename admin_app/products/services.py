"""The one way to change a product: each call saves the product with version + 1
and writes its outbox event in one transaction. Nothing here talks to the broker;
the relay (``manage.py relay_outbox``) publishes committed events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from products.models import OutboxEvent, Product

PRODUCT_FIELDS = ("sku", "title", "description", "price", "image_url", "is_active")


def product_snapshot(product: Product) -> dict[str, Any]:
    """The product's fields as the contract carries them (price as a decimal string)."""
    return {
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "price": str(product.price),
        "image_url": product.image_url,
        "is_active": product.is_active,
    }


def _record(product: Product, op: str) -> OutboxEvent:
    return OutboxEvent.objects.create(
        product_id=product.pk,
        version=product.version,
        op=op,
        data=product_snapshot(product),
        occurred_at=timezone.now(),
    )


def _check_fields(data: dict[str, Any]) -> None:
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"not product fields: {sorted(unknown)}")


@transaction.atomic
def product_create(*, data: dict[str, Any]) -> Product:
    _check_fields(data)
    product = Product(**data, version=1)
    product.full_clean()
    product.save()
    _record(product, OutboxEvent.Op.UPSERT)
    return product


@transaction.atomic
def product_update(*, product_id: int, data: dict[str, Any]) -> Product:
    """Apply ``data`` to the product under a row lock, so concurrent edits get distinct versions."""
    _check_fields(data)
    product = Product.objects.select_for_update().get(pk=product_id)
    for field, value in data.items():
        setattr(product, field, value)
    product.version += 1
    product.full_clean()
    product.save()
    _record(product, OutboxEvent.Op.UPSERT)
    return product


@transaction.atomic
def product_delete(*, product_id: int) -> None:
    """Delete the product; the catalog keeps a tombstone at the new version."""
    product = Product.objects.select_for_update().get(pk=product_id)
    product.version += 1
    _record(product, OutboxEvent.Op.DELETE)
    product.delete()


@transaction.atomic
def product_delete_many(*, product_ids: Iterable[int]) -> int:
    """Delete several products, each with its own versioned event (the admin's bulk delete)."""
    count = 0
    for product_id in sorted(product_ids):  # a fixed lock order: no deadlock between two bulk deletes
        product_delete(product_id=product_id)
        count += 1
    return count
