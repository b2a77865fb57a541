"""products.services: every change writes the product with version + 1 and one outbox event, atomically."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from products import sql
from products.models import OutboxEvent, Product
from products.services import (
    product_create,
    product_delete,
    product_delete_many,
    product_resync,
    product_resync_after,
    product_update,
)
from sync_contract import validate_envelope
from sync_contract.events import DESCRIPTION_MAX, IMAGE_URL_MAX, SKU_MAX, TITLE_MAX
from testkit.events import envelope_of
from testkit.waiting import wait_until

from .factories import Boom, expected_event_data, make_product, product_data, roll_back_after


def events_of(product_id: int) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(product_id=product_id).order_by("id"))


@pytest.mark.django_db
class TestCreate:
    def test_writes_version_1_and_one_upsert_event_with_the_snapshot(self) -> None:
        product = product_create(
            data=product_data(sku="MUG-1", title="Mug", description="d", price=Decimal("12.50"), is_active=False)
        )

        assert Product.objects.get(pk=product.pk).version == 1
        (event,) = OutboxEvent.objects.all()
        assert (event.product_id, event.version, event.op) == (product.pk, 1, "upsert")
        assert event.data == {
            "sku": "MUG-1",
            "title": "Mug",
            "description": "d",
            "price": "12.50",
            "image_url": "https://example.com/p.png",
            "is_active": False,
        }
        assert isinstance(event.data["price"], str)
        assert (event.published_at, event.attempts, event.last_error, event.next_attempt_at) == (None, 0, "", None)
        assert event.occurred_at is not None

    def test_rolled_back_with_the_surrounding_transaction(self) -> None:
        with pytest.raises(Boom):
            roll_back_after(lambda: product_create(data=product_data()))

        assert Product.objects.count() == 0
        assert OutboxEvent.objects.count() == 0

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("price", Decimal("-0.01")),
            ("price", Decimal("12.345")),
            ("price", Decimal("12345678901")),
            ("sku", ""),
            ("sku", "x" * 65),
            ("title", ""),
            ("image_url", "not a url"),
            # What the catalog's contract refuses must be refused here, or the change
            # would be dead-lettered instead of applied:
            ("title", "   "),
            ("sku", " "),
            ("title", "nul\x00char"),
            ("description", "nul\x00char"),
            ("description", "d" * (DESCRIPTION_MAX + 1)),
        ],
    )
    def test_invalid_data_raises_validation_error_and_writes_nothing(self, field: str, value) -> None:
        with pytest.raises(ValidationError) as error:
            product_create(data=product_data(**{field: value}))

        assert field in error.value.message_dict
        assert Product.objects.count() == 0
        assert OutboxEvent.objects.count() == 0

    def test_a_duplicate_sku_raises_validation_error_and_writes_nothing_more(self) -> None:
        make_product(sku="DUP")

        with pytest.raises(ValidationError) as error:
            product_create(data=product_data(sku="DUP"))

        assert "sku" in error.value.message_dict
        assert Product.objects.count() == 1
        assert OutboxEvent.objects.count() == 1

    def test_unknown_fields_are_refused(self) -> None:
        with pytest.raises(TypeError, match="version"):
            product_create(data=product_data(version=99))

        assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
class TestUpdate:
    def test_bumps_the_version_and_writes_one_event(self) -> None:
        product = make_product(title="Old", price=Decimal("1.00"))

        updated = product_update(product_id=product.pk, data={"title": "New", "price": Decimal("2.50")})

        assert updated.version == 2
        stored = Product.objects.get(pk=product.pk)
        assert (stored.version, stored.title, stored.price) == (2, "New", Decimal("2.50"))
        events = events_of(product.pk)
        assert [(e.version, e.op) for e in events] == [(1, "upsert"), (2, "upsert")]
        assert events[-1].data == expected_event_data(stored)
        assert events[-1].data["price"] == "2.50"

    def test_two_updates_produce_versions_2_and_3(self) -> None:
        product = make_product()

        first = product_update(product_id=product.pk, data={"title": "one"})
        second = product_update(product_id=product.pk, data={"title": "two"})

        assert (first.version, second.version) == (2, 3)
        assert [(e.version, e.data["title"]) for e in events_of(product.pk)][1:] == [(2, "one"), (3, "two")]

    def test_rolled_back_with_the_surrounding_transaction(self) -> None:
        product = make_product(title="Before")

        with pytest.raises(Boom):
            roll_back_after(lambda: product_update(product_id=product.pk, data={"title": "After"}))

        stored = Product.objects.get(pk=product.pk)
        assert (stored.version, stored.title) == (1, "Before")
        assert len(events_of(product.pk)) == 1

    def test_a_negative_price_raises_and_writes_nothing(self) -> None:
        product = make_product(price=Decimal("5.00"))

        with pytest.raises(ValidationError) as error:
            product_update(product_id=product.pk, data={"price": Decimal("-1")})

        assert "price" in error.value.message_dict
        stored = Product.objects.get(pk=product.pk)
        assert (stored.version, stored.price) == (1, Decimal("5.00"))
        assert len(events_of(product.pk)) == 1

    def test_an_unknown_product_raises_does_not_exist(self) -> None:
        with pytest.raises(Product.DoesNotExist):
            product_update(product_id=987654, data={"title": "x"})

        assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
class TestDelete:
    def test_writes_a_delete_event_one_version_up_with_the_full_snapshot(self) -> None:
        product = make_product(sku="GONE", title="Gone soon", price=Decimal("7.10"))
        product_update(product_id=product.pk, data={"title": "Going"})
        before = expected_event_data(Product.objects.get(pk=product.pk))

        product_delete(product_id=product.pk)

        assert not Product.objects.filter(pk=product.pk).exists()
        events = events_of(product.pk)
        assert [(e.version, e.op) for e in events] == [(1, "upsert"), (2, "upsert"), (3, "delete")]
        assert events[-1].data == before
        assert events[-1].data["price"] == "7.10"

    def test_rolled_back_with_the_surrounding_transaction(self) -> None:
        product = make_product()

        with pytest.raises(Boom):
            roll_back_after(lambda: product_delete(product_id=product.pk))

        assert Product.objects.get(pk=product.pk).version == 1
        assert [e.op for e in events_of(product.pk)] == ["upsert"]

    def test_an_unknown_product_raises_does_not_exist(self) -> None:
        with pytest.raises(Product.DoesNotExist):
            product_delete(product_id=987654)

        assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
class TestDeleteMany:
    def test_writes_one_delete_event_per_product_each_one_version_up(self) -> None:
        a, b, c, keep = make_product(), make_product(), make_product(), make_product()
        product_update(product_id=b.pk, data={"title": "b2"})
        product_update(product_id=b.pk, data={"title": "b3"})

        count = product_delete_many(product_ids=[c.pk, a.pk, b.pk])

        assert count == 3
        assert list(Product.objects.values_list("pk", flat=True)) == [keep.pk]
        deletes = OutboxEvent.objects.filter(op="delete").order_by("product_id")
        assert [(e.product_id, e.version) for e in deletes] == [(a.pk, 2), (b.pk, 4), (c.pk, 2)]
        assert deletes.get(product_id=b.pk).data["title"] == "b3"

    def test_all_or_nothing_when_one_product_is_missing(self) -> None:
        a, b = make_product(), make_product()

        with pytest.raises(Product.DoesNotExist):
            product_delete_many(product_ids=[a.pk, b.pk, 987654])

        assert Product.objects.count() == 2
        assert not OutboxEvent.objects.filter(op="delete").exists()

    def test_rolled_back_with_the_surrounding_transaction(self) -> None:
        a, b = make_product(), make_product()

        with pytest.raises(Boom):
            roll_back_after(lambda: product_delete_many(product_ids=[a.pk, b.pk]))

        assert Product.objects.count() == 2
        assert OutboxEvent.objects.count() == 2


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_concurrent_updates_wait_for_each_other_and_get_distinct_versions() -> None:
    product = make_product()
    first_holds_lock, release_first = threading.Event(), threading.Event()
    versions: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                versions["first"] = product_update(product_id=product.pk, data={"title": "first"}).version
                first_holds_lock.set()
                release_first.wait(timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            versions["second"] = product_update(product_id=product.pk, data={"title": "second"}).version
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    try:
        assert first_holds_lock.wait(timeout=15)
        threads[1].start()
        # The second update blocks on the row lock the first one holds.
        wait_until(lambda: _lock_waiters() >= 1, timeout=15, what="the second update to wait on the row lock")
        assert "second" not in versions
    finally:
        release_first.set()
        for thread in threads:
            thread.join(timeout=15)

    assert errors == []
    assert versions == {"first": 2, "second": 3}
    assert Product.objects.get(pk=product.pk).title == "second"
    assert [e.version for e in events_of(product.pk)] == [1, 2, 3]


@pytest.mark.django_db
def test_a_product_at_every_limit_the_admin_accepts_passes_the_catalogs_validation() -> None:
    # The event the relay will send for it is the outbox row's data: the worker must
    # accept it (not dead-letter it) for the change to be applied.
    url = "https://example.com/" + "u" * (IMAGE_URL_MAX - len("https://example.com/"))
    product = product_create(
        data=product_data(
            sku="S" * SKU_MAX,
            title="T" * TITLE_MAX,
            description="D" * DESCRIPTION_MAX,
            image_url=url,
            price=Decimal("9999999999.99"),
        )
    )
    event = OutboxEvent.objects.get(product_id=product.pk)
    wire = {
        "event_id": str(event.event_id),
        "product_id": event.product_id,
        "version": event.version,
        "op": event.op,
        "occurred_at": event.occurred_at.isoformat(),
        "data": event.data,
    }

    (parsed,) = validate_envelope(envelope_of(wire))

    assert (parsed.sku, parsed.title, parsed.description, parsed.image_url) == (
        product.sku,
        product.title,
        product.description,
        url,
    )


@pytest.mark.django_db
def test_resync_after_an_id_covers_every_product_once_in_id_order_across_gaps() -> None:
    products = [make_product() for _ in range(5)]
    gone = products.pop(2)
    product_delete(product_id=gone.pk)
    before = OutboxEvent.objects.count()
    batches, after = [], 0
    while after is not None:
        written, after = product_resync_after(after=after, limit=2)
        batches.append((written, after))

    ids = [p.pk for p in products]
    assert batches == [(2, ids[1]), (2, ids[3]), (0, None)]
    resent = OutboxEvent.objects.order_by("id")[before:]
    assert [(e.product_id, e.version, e.op) for e in resent] == [(p.pk, 1, "upsert") for p in products]
    assert all(e.data == expected_event_data(p) for e, p in zip(resent, products, strict=True))


@pytest.mark.django_db
def test_resync_after_an_id_reads_the_key_in_order_without_sorting_the_table() -> None:
    # A table just imported has no statistics: a plan that sorts would read all of it per batch.
    setting, statement = sql.RESYNC_AFTER_SQL.split(";", 1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO products_product (sku, title, description, price, image_url, is_active, version,"
            " created_at, updated_at) SELECT 'S-' || n, 't', '', 1, '', true, 1, now(), now()"
            " FROM generate_series(1, 50000) AS n"
        )
        cursor.execute(setting)
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, {"after": 20_000, "limit": 5000})
        plan = json.dumps(cursor.fetchone()[0])

    assert '"Node Type": "Sort"' not in plan
    assert '"Index Name": "products_product_pkey"' in plan


@pytest.mark.django_db
def test_a_resync_event_carries_the_current_state_version_and_last_change_of_each_product() -> None:
    a = make_product(price=Decimal("3"))
    b = product_update(product_id=make_product().pk, data={"title": "b v2"})

    written = product_resync(product_ids=[b.pk, a.pk, a.pk, 999_999])

    assert written == 2  # each existing product once; unknown ids ignored
    for product in (Product.objects.get(pk=a.pk), Product.objects.get(pk=b.pk)):
        event = events_of(product.pk)[-1]
        assert (event.version, event.op) == (product.version, "upsert")
        assert event.data == expected_event_data(product)
        assert event.occurred_at == product.updated_at
