"""The Django admin: every save and delete (the bulk action included) goes through the service layer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from products.models import OutboxEvent, Product
from products.services import product_update

from .factories import make_product

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"
ADD = "/admin/products/product/add/"


def change_url(pk: int) -> str:
    return f"/admin/products/product/{pk}/change/"


def form(**overrides) -> dict[str, str]:
    data = {
        "sku": "ADM-1",
        "title": "Added in the admin",
        "description": "",
        "price": "19.90",
        "image_url": "",
        "is_active": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_adding_a_product_creates_version_1_and_one_event(admin_client) -> None:
    response = admin_client.post(ADD, form())

    assert response.status_code == 302, response.content
    product = Product.objects.get(sku="ADM-1")
    assert (product.version, product.price, product.is_active) == (1, Decimal("19.90"), True)
    (event,) = OutboxEvent.objects.all()
    assert (event.product_id, event.version, event.op, event.data["price"]) == (product.pk, 1, "upsert", "19.90")


def test_editing_bumps_the_version_and_writes_an_event(admin_client) -> None:
    product = make_product(sku="EDIT", title="Before")

    response = admin_client.post(change_url(product.pk), form(sku="EDIT", title="After", is_active=None))

    assert response.status_code == 302, response.content
    stored = Product.objects.get(pk=product.pk)
    assert (stored.version, stored.title, stored.is_active) == (2, "After", False)
    assert list(OutboxEvent.objects.order_by("id").values_list("version", "op")) == [(1, "upsert"), (2, "upsert")]
    assert OutboxEvent.objects.order_by("id").last().data["title"] == "After"


def test_an_invalid_form_shows_errors_and_writes_nothing(admin_client) -> None:
    response = admin_client.post(ADD, form(price="-1.00"))

    assert response.status_code == 200
    assert "price" in response.context["adminform"].form.errors
    assert (Product.objects.count(), OutboxEvent.objects.count()) == (0, 0)


def test_deleting_one_product_writes_a_delete_event(admin_client) -> None:
    product = make_product()

    response = admin_client.post(f"/admin/products/product/{product.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Product.objects.exists()
    last = OutboxEvent.objects.order_by("id").last()
    assert (last.product_id, last.version, last.op) == (product.pk, 2, "delete")


def test_the_bulk_delete_action_goes_through_the_service(admin_client) -> None:
    a, b, keep = make_product(), make_product(), make_product()
    product_update(product_id=b.pk, data={"title": "b v2"})

    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert list(Product.objects.values_list("pk", flat=True)) == [keep.pk]
    deletes = OutboxEvent.objects.filter(op="delete").order_by("product_id")
    assert [(e.product_id, e.version) for e in deletes] == [(a.pk, 2), (b.pk, 3)]
    assert deletes.get(product_id=b.pk).data["title"] == "b v2"


def test_the_bulk_delete_asks_for_confirmation_first(admin_client) -> None:
    a = make_product()

    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [a.pk]})

    assert response.status_code == 200
    assert Product.objects.filter(pk=a.pk).exists()
    assert not OutboxEvent.objects.filter(op="delete").exists()


def test_the_changelist_shows_the_sync_state_column(admin_client, one_per_state) -> None:
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "sync state" in html.lower()
    rows = {p.sku: p.sync_state for p in response.context["cl"].result_list}
    assert rows == {"PENDING-ONE": "pending", "FAILED-ONE": "failed", "PUBLISHED-ONE": "published"}
    assert "failed: ConnectionRefusedError" in html


@pytest.mark.parametrize("state", ["pending", "failed", "published"])
def test_the_changelist_filters_by_sync_state(admin_client, one_per_state, state: str) -> None:
    response = admin_client.get(CHANGELIST, {"sync_state": state})

    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == [one_per_state[state].pk]


def test_an_edit_makes_a_published_product_pending_again(admin_client, one_per_state) -> None:
    product = one_per_state["published"]
    admin_client.post(change_url(product.pk), form(sku=product.sku, title="changed"))

    response = admin_client.get(CHANGELIST, {"sync_state": "pending"})

    assert sorted(p.pk for p in response.context["cl"].result_list) == sorted([one_per_state["pending"].pk, product.pk])


def test_the_outbox_is_read_only_in_the_admin(admin_client, one_per_state) -> None:
    event = OutboxEvent.objects.first()

    assert admin_client.get("/admin/products/outboxevent/").status_code == 200
    assert admin_client.get("/admin/products/outboxevent/add/").status_code == 403
    before = OutboxEvent.objects.get(pk=event.pk).version
    admin_client.post(f"/admin/products/outboxevent/{event.pk}/change/", {"version": 999})
    assert OutboxEvent.objects.get(pk=event.pk).version == before
