"""The version rules of catalog.services.catalog_apply_events, against the real database."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from catalog.models import CatalogProduct
from catalog.services import ApplyResult, catalog_apply_events, newest_per_product
from testkit.events import product_event

from .snapshots import catalog_rows

pytestmark = pytest.mark.django_db


def apply(*events) -> ApplyResult:
    return catalog_apply_events(events=list(events))


def stored(product_id: int) -> CatalogProduct:
    return CatalogProduct.objects.get(product_id=product_id)


def test_first_event_inserts_the_product_with_all_fields() -> None:
    event = product_event(
        5,
        1,
        sku="MUG-5",
        title="Mug ☕",
        description="Big",
        price=Decimal("12.50"),
        image_url="https://example.com/m.png",
        is_active=False,
    )

    result = apply(event)

    assert result == ApplyResult(applied=1, stale=0)
    row = stored(5)
    assert (row.sku, row.title, row.description, row.price, row.image_url, row.is_active) == (
        "MUG-5",
        "Mug ☕",
        "Big",
        Decimal("12.50"),
        "https://example.com/m.png",
        False,
    )
    assert (row.version, row.deleted, str(row.event_id), row.occurred_at) == (
        1,
        False,
        event.event_id,
        event.occurred_at,
    )
    assert row.applied_at is not None


def test_a_newer_version_applies() -> None:
    apply(product_event(1, 1))
    newer = product_event(1, 2, title="Renamed", price=Decimal("3.00"))

    result = apply(newer)

    assert result == ApplyResult(applied=1, stale=0)
    row = stored(1)
    assert (row.version, row.title, row.price, str(row.event_id)) == (2, "Renamed", Decimal("3.00"), newer.event_id)


def test_an_equal_version_is_skipped_and_counted_stale() -> None:
    first = product_event(1, 2, title="First delivery")
    apply(first)
    before = catalog_rows()

    result = apply(product_event(1, 2, title="Same version, other content"))

    assert result == ApplyResult(applied=0, stale=1)
    assert catalog_rows() == before
    assert stored(1).title == "First delivery"


def test_an_older_version_is_skipped() -> None:
    apply(product_event(1, 5, title="v5"))
    before = catalog_rows()

    result = apply(product_event(1, 4, title="late v4"))

    assert result == ApplyResult(applied=0, stale=1)
    assert catalog_rows() == before


def test_a_delete_keeps_a_tombstone_that_an_older_upsert_cannot_revive(client) -> None:
    apply(product_event(1, 1), product_event(2, 1))
    assert apply(product_event(1, 3, op="delete")) == ApplyResult(applied=1, stale=0)

    # The update of version 2 was overtaken by the delete (version 3) and arrives late.
    late = apply(product_event(1, 2, title="late update"))

    assert late == ApplyResult(applied=0, stale=1)
    row = stored(1)
    assert (row.deleted, row.version) == (True, 3)
    assert client.get("/api/products/1/").status_code == 404
    listed = client.get("/api/products/").json()
    assert [p["id"] for p in listed["results"]] == [2]


def test_an_equal_version_upsert_cannot_revive_a_tombstone() -> None:
    apply(product_event(1, 3, op="delete"))

    assert apply(product_event(1, 3)) == ApplyResult(applied=0, stale=1)
    assert stored(1).deleted is True


def test_a_newer_upsert_after_a_delete_revives_the_product(client) -> None:
    # Documented behaviour: the admin only issues a version above the delete's if the
    # product exists there again, so the catalog trusts the higher version.
    apply(product_event(1, 1))
    apply(product_event(1, 2, op="delete"))
    revived = product_event(1, 3, title="Back again")

    assert apply(revived) == ApplyResult(applied=1, stale=0)

    row = stored(1)
    assert (row.deleted, row.version, row.title, str(row.event_id)) == (False, 3, "Back again", revived.event_id)
    detail = client.get("/api/products/1/")
    assert detail.status_code == 200
    assert (detail.json()["version"], detail.json()["title"]) == (3, "Back again")


def test_a_delete_for_a_product_never_seen_creates_a_tombstone(client) -> None:
    event = product_event(42, 7, op="delete", title="Gone before we knew it")

    assert apply(event) == ApplyResult(applied=1, stale=0)

    row = stored(42)
    assert (row.deleted, row.version, str(row.event_id)) == (True, 7, event.event_id)
    # The upsert that created it arrives after its delete: it stays deleted.
    assert apply(product_event(42, 1)) == ApplyResult(applied=0, stale=1)
    assert stored(42).deleted is True
    assert client.get("/api/products/42/").status_code == 404


def test_a_batch_with_several_versions_of_one_product_applies_only_the_highest() -> None:
    batch = [product_event(1, 2), product_event(1, 4, title="v4 wins"), product_event(1, 1), product_event(1, 3)]

    result = apply(*batch)

    assert result == ApplyResult(applied=1, stale=3, superseded=((1, 2), (1, 1), (1, 3)))
    row = stored(1)
    assert (row.version, row.title, str(row.event_id)) == (4, "v4 wins", batch[1].event_id)


def test_a_mixed_batch_counts_applied_and_stale_per_product() -> None:
    apply(product_event(1, 5), product_event(2, 1))

    result = apply(
        product_event(1, 4),  # stale: older than held
        product_event(2, 2),  # applied
        product_event(3, 1),  # applied: new product
        product_event(3, 2, op="delete"),  # applied as the highest of product 3; v1 above is stale
    )

    assert result == ApplyResult(applied=2, stale=2, superseded=((3, 1),))
    assert [(r["product_id"], r["version"], r["deleted"]) for r in catalog_rows()] == [
        (1, 5, False),
        (2, 2, False),
        (3, 2, True),
    ]


def test_the_same_batch_applied_twice_changes_nothing_the_second_time() -> None:
    batch = [product_event(1, 1), product_event(2, 3), product_event(3, 2, op="delete"), product_event(2, 2)]
    first = apply(*batch)
    after_first = catalog_rows()

    second = apply(*batch)

    assert first == ApplyResult(applied=3, stale=1, superseded=((2, 2),))
    assert second == ApplyResult(applied=0, stale=4, superseded=((2, 2),))
    # Identical down to applied_at: a redelivered message does not touch a row.
    assert catalog_rows() == after_first


def _history() -> list:
    return [
        product_event(1, 1),
        product_event(2, 1),
        product_event(1, 2, title="p1 renamed", price=Decimal("99.99")),
        product_event(3, 1),
        product_event(2, 2, op="delete"),
        product_event(1, 3, is_active=False),
        product_event(3, 2, sku="SKU-3-NEW"),
        product_event(4, 1),
        product_event(4, 2, op="delete"),
    ]


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "applied_at"} for row in rows]


def test_applying_events_in_reverse_order_ends_in_the_same_state() -> None:
    history = _history()
    for event in history:
        apply(event)
    in_order = catalog_rows()
    CatalogProduct.objects.all().delete()

    results = [apply(event) for event in reversed(history)]

    assert _comparable(catalog_rows()) == _comparable(in_order)
    # In reverse, only the first event seen per product (its newest) applied.
    assert sum(r.applied for r in results) == 4
    assert sum(r.stale for r in results) == len(history) - 4
    assert [(r["product_id"], r["version"], r["deleted"]) for r in in_order] == [
        (1, 3, False),
        (2, 2, True),
        (3, 2, False),
        (4, 2, True),
    ]


def test_one_batch_in_any_order_ends_in_the_same_state() -> None:
    history = _history()
    apply(*history)
    as_one_batch = catalog_rows()
    CatalogProduct.objects.all().delete()

    apply(*reversed(history))

    assert _comparable(catalog_rows()) == _comparable(as_one_batch)


def test_applied_at_is_set_by_the_database_on_each_application() -> None:
    apply(product_event(1, 1))
    first = stored(1).applied_at

    apply(product_event(1, 2))

    assert stored(1).applied_at > first


def test_newest_per_product_keeps_the_highest_version_sorted_by_product() -> None:
    events = [product_event(9, 1), product_event(2, 5), product_event(9, 3), product_event(2, 4), product_event(5, 1)]

    newest = newest_per_product(events)

    assert [(e.product_id, e.version) for e in newest] == [(2, 5), (5, 1), (9, 3)]


def test_event_ids_are_stored_as_uuids() -> None:
    event_id = str(uuid.uuid4())
    apply(product_event(1, 1, event_id=event_id))

    assert stored(1).event_id == uuid.UUID(event_id)
