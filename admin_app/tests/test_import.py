"""product_import: the bulk write path gives the same outcome as one service call per row."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from products.models import OutboxEvent, Product
from products.services import product_create, product_import

pytestmark = pytest.mark.django_db


def test_import_creates_products_at_version_one_with_one_event_each():
    result = product_import(rows=[{"sku": f"I-{i}", "title": f"T{i}", "price": "1.50"} for i in range(5)])

    assert (result.created, result.updated) == (5, 0)
    products = {p.sku: p for p in Product.objects.all()}
    assert set(products) == {f"I-{i}" for i in range(5)}
    assert {p.version for p in products.values()} == {1}
    events = list(OutboxEvent.objects.order_by("product_id"))
    assert [(e.product_id, e.version, e.op) for e in events] == sorted(
        (p.pk, 1, "upsert") for p in products.values()
    )
    assert events[0].data == {
        "sku": "I-0", "title": "T0", "description": "", "price": "1.50", "image_url": "", "is_active": True,
    }
    assert all(e.published_at is None and e.attempts == 0 for e in events)


def test_import_updates_existing_skus_with_version_plus_one():
    existing = product_create(data={"sku": "KEEP", "title": "old", "price": "1.00"})

    result = product_import(rows=[{"sku": "KEEP", "title": "new", "price": "2.25"}, {"sku": "NEW", "title": "n",
                                                                                      "price": "0"}])

    assert (result.created, result.updated) == (1, 1)
    existing.refresh_from_db()
    assert (existing.version, existing.title, existing.price) == (2, "new", Decimal("2.25"))
    event = OutboxEvent.objects.get(product_id=existing.pk, version=2)
    assert event.data["title"] == "new"
    assert event.data["price"] == "2.25"
    assert OutboxEvent.objects.count() == 3  # create of KEEP, its update, create of NEW


@pytest.mark.parametrize(
    "bad_row",
    [
        {"sku": "B", "title": "t", "price": "-1"},
        {"sku": "B", "title": "", "price": "1"},
        {"sku": "B", "title": "t", "price": "1", "image_url": "not a url"},
    ],
)
def test_one_bad_row_rejects_the_whole_import(bad_row):
    with pytest.raises(ValidationError) as info:
        product_import(rows=[{"sku": "A", "title": "fine", "price": "1"}, bad_row])

    assert "rows[1]" in info.value.message_dict
    assert Product.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


def test_duplicate_skus_in_one_import_are_refused():
    with pytest.raises(ValidationError):
        product_import(rows=[{"sku": "D", "title": "a", "price": "1"}, {"sku": "D", "title": "b", "price": "1"}])
    assert OutboxEvent.objects.count() == 0
