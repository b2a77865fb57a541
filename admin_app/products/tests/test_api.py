"""The admin JSON API (/api/products/): staff only, every write through the service layer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from products.models import OutboxEvent, Product
from testkit.users import basic_auth

from .factories import api_product_data, make_product

pytestmark = pytest.mark.django_db

LIST = "/api/products/"


def detail(pk: int) -> str:
    return f"/api/products/{pk}/"


def counts() -> tuple[int, int]:
    return Product.objects.count(), OutboxEvent.objects.count()


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("get", LIST), ("post", LIST), ("get", "/api/products/1/"), ("delete", "/api/products/1/")],
    )
    def test_anonymous_is_refused(self, api_client: APIClient, method: str, path: str) -> None:
        product = make_product()
        path = path.replace("/1/", f"/{product.pk}/")

        response = getattr(api_client, method)(path, api_product_data(), format="json")

        assert response.status_code in (401, 403)
        assert counts() == (1, 1)

    def test_a_non_staff_user_is_forbidden_with_a_session(self, api_client: APIClient, plain_user) -> None:
        api_client.force_login(plain_user)

        assert api_client.get(LIST).status_code == 403
        assert api_client.post(LIST, api_product_data(), format="json").status_code == 403
        assert counts() == (0, 0)

    def test_a_non_staff_user_is_forbidden_with_basic_auth(self, api_client: APIClient, plain_user) -> None:
        response = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth(plain_user.username))

        assert response.status_code == 403

    def test_wrong_basic_credentials_are_refused(self, api_client: APIClient, staff_user) -> None:
        response = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth(staff_user.username, "wrong-password"))

        assert response.status_code in (401, 403)

    def test_staff_with_basic_auth_can_read_and_write(self, api_client: APIClient, staff_user) -> None:
        auth = {"HTTP_AUTHORIZATION": basic_auth(staff_user.username)}

        created = api_client.post(LIST, api_product_data(sku="BASIC"), format="json", **auth)
        listed = api_client.get(LIST, **auth)

        assert created.status_code == 201
        assert listed.status_code == 200
        assert [p["sku"] for p in listed.json()["results"]] == ["BASIC"]


class TestCrud:
    def test_create_goes_through_the_service(self, staff_api: APIClient) -> None:
        response = staff_api.post(
            LIST, api_product_data(sku="MUG", title="Mug", price="12.50", is_active=False), format="json"
        )

        assert response.status_code == 201
        body = response.json()
        assert (body["sku"], body["price"], body["is_active"], body["version"], body["sync_state"]) == (
            "MUG",
            "12.50",
            False,
            1,
            "pending",
        )
        (event,) = OutboxEvent.objects.all()
        assert (event.product_id, event.version, event.op) == (body["id"], 1, "upsert")
        assert event.data["price"] == "12.50"
        assert event.data["sku"] == "MUG"

    def test_read_one_and_list(self, staff_api: APIClient) -> None:
        product = make_product(sku="READ", price=Decimal("3.10"))

        one = staff_api.get(detail(product.pk))
        many = staff_api.get(LIST)

        assert one.status_code == 200
        assert (one.json()["id"], one.json()["sku"], one.json()["price"], one.json()["version"]) == (
            product.pk,
            "READ",
            "3.10",
            1,
        )
        assert one.json()["sync_state"] == "pending"
        assert [p["id"] for p in many.json()["results"]] == [product.pk]

    def test_put_replaces_and_bumps_the_version(self, staff_api: APIClient) -> None:
        product = make_product(sku="PUT")

        response = staff_api.put(
            detail(product.pk), api_product_data(sku="PUT", title="Replaced", price="99.99"), format="json"
        )

        assert response.status_code == 200
        assert (response.json()["title"], response.json()["price"], response.json()["version"]) == (
            "Replaced",
            "99.99",
            2,
        )
        assert [(e.version, e.op, e.data["title"]) for e in OutboxEvent.objects.order_by("id")][1:] == [
            (2, "upsert", "Replaced"),
        ]

    def test_patch_changes_one_field_and_bumps_the_version(self, staff_api: APIClient) -> None:
        product = make_product(title="Before", price=Decimal("4.00"), description="kept")

        response = staff_api.patch(detail(product.pk), {"title": "After"}, format="json")

        assert response.status_code == 200
        stored = Product.objects.get(pk=product.pk)
        assert (stored.title, stored.price, stored.description, stored.version) == (
            "After",
            Decimal("4.00"),
            "kept",
            2,
        )
        assert response.json()["version"] == 2
        assert OutboxEvent.objects.filter(product_id=product.pk).count() == 2

    def test_delete_returns_204_and_writes_a_delete_event(self, staff_api: APIClient) -> None:
        product = make_product(sku="BYE")
        staff_api.patch(detail(product.pk), {"title": "v2"}, format="json")

        response = staff_api.delete(detail(product.pk))

        assert response.status_code == 204
        assert not Product.objects.filter(pk=product.pk).exists()
        last = OutboxEvent.objects.order_by("id").last()
        assert (last.product_id, last.version, last.op, last.data["sku"], last.data["title"]) == (
            product.pk,
            3,
            "delete",
            "BYE",
            "v2",
        )
        assert staff_api.get(detail(product.pk)).status_code == 404

    def test_every_write_is_one_outbox_event(self, staff_api: APIClient) -> None:
        pk = staff_api.post(LIST, api_product_data(), format="json").json()["id"]
        staff_api.patch(detail(pk), {"price": "1.00"}, format="json")
        staff_api.put(detail(pk), api_product_data(), format="json")
        staff_api.delete(detail(pk))

        assert list(OutboxEvent.objects.order_by("id").values_list("version", "op")) == [
            (1, "upsert"),
            (2, "upsert"),
            (3, "upsert"),
            (4, "delete"),
        ]

    def test_the_client_cannot_set_the_version(self, staff_api: APIClient) -> None:
        response = staff_api.post(LIST, api_product_data(version=50, id=77777), format="json")

        assert response.status_code == 201
        assert response.json()["version"] == 1
        assert response.json()["id"] != 77777

    @pytest.mark.parametrize("title", ["Tasse à café ☕", "咖啡杯", "Кружка", "🚀 rocket mug", "ﻗﻬﻮة"])
    def test_unicode_titles_are_accepted(self, staff_api: APIClient, title: str) -> None:
        response = staff_api.post(LIST, api_product_data(title=title), format="json")

        assert response.status_code == 201
        assert Product.objects.get(pk=response.json()["id"]).title == title
        assert OutboxEvent.objects.get().data["title"] == title

    @pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
    def test_an_unknown_id_is_404(self, staff_api: APIClient, method: str) -> None:
        response = getattr(staff_api, method)(detail(987654), api_product_data(), format="json")

        assert response.status_code == 404
        assert counts() == (0, 0)

    def test_the_list_is_paginated(self, staff_api: APIClient) -> None:
        for _ in range(55):
            make_product()

        first = staff_api.get(LIST).json()
        second = staff_api.get(first["next"]).json()

        assert set(first) >= {"count", "next", "previous", "results"}
        assert first["count"] == 55
        assert len(first["results"]) == 50
        assert len(second["results"]) == 5
        assert second["next"] is None
        ids = [p["id"] for p in first["results"] + second["results"]]
        assert ids == sorted(ids)
        assert len(set(ids)) == 55


INVALID_CREATES = [
    pytest.param({}, ["sku", "title", "price"], id="missing-fields"),
    pytest.param({"title": "No sku", "price": "1.00"}, ["sku"], id="missing-sku"),
    pytest.param(api_product_data(price="-1.00"), ["price"], id="negative-price"),
    pytest.param(api_product_data(price="12.345"), ["price"], id="price-three-decimals"),
    pytest.param(api_product_data(price="12345678901.00"), ["price"], id="price-huge"),
    pytest.param(api_product_data(price="1E+400"), ["price"], id="price-huge-exponent"),
    pytest.param(api_product_data(price="twelve"), ["price"], id="price-not-numeric"),
    pytest.param(api_product_data(price="NaN"), ["price"], id="price-nan"),
    pytest.param(api_product_data(price="Infinity"), ["price"], id="price-infinity"),
    pytest.param(api_product_data(price=None), ["price"], id="price-null"),
    pytest.param(api_product_data(price=[1]), ["price"], id="price-list"),
    pytest.param(api_product_data(title=["a", "list"]), ["title"], id="title-list"),
    pytest.param(api_product_data(title={"a": 1}), ["title"], id="title-object"),
    pytest.param(api_product_data(title=""), ["title"], id="title-empty"),
    pytest.param(api_product_data(title="t" * 201), ["title"], id="title-too-long"),
    pytest.param(api_product_data(title="nul\x00char"), ["title"], id="title-nul"),
    pytest.param(api_product_data(description="nul\x00char"), ["description"], id="description-nul"),
    pytest.param(api_product_data(description=None), ["description"], id="description-null"),
    pytest.param(api_product_data(description="d" * 10_001), ["description"], id="description-too-long"),
    pytest.param(api_product_data(is_active="maybe"), ["is_active"], id="is-active-maybe"),
    pytest.param(api_product_data(is_active=[True]), ["is_active"], id="is-active-list"),
    pytest.param(api_product_data(sku="s" * 65), ["sku"], id="sku-too-long"),
    pytest.param(api_product_data(sku=""), ["sku"], id="sku-empty"),
    pytest.param(api_product_data(sku="A\x00B"), ["sku"], id="sku-nul"),
    pytest.param(api_product_data(image_url="not a url"), ["image_url"], id="image-url-invalid"),
    pytest.param(api_product_data(image_url="javascript:alert(1)"), ["image_url"], id="image-url-javascript"),
    pytest.param(api_product_data(image_url="https://e.com/" + "x" * 500), ["image_url"], id="image-url-too-long"),
]


@pytest.mark.parametrize(("payload", "fields"), INVALID_CREATES)
def test_invalid_create_is_a_400_with_field_errors(staff_api: APIClient, payload: dict, fields: list[str]) -> None:
    response = staff_api.post(LIST, payload, format="json")

    assert response.status_code == 400, response.content
    assert set(fields) <= set(response.json())
    assert counts() == (0, 0)


def test_a_duplicate_sku_is_a_400(staff_api: APIClient) -> None:
    make_product(sku="TAKEN")

    response = staff_api.post(LIST, api_product_data(sku="TAKEN"), format="json")

    assert response.status_code == 400
    assert "sku" in response.json()
    assert counts() == (1, 1)


def test_renaming_to_a_taken_sku_is_a_400(staff_api: APIClient) -> None:
    make_product(sku="TAKEN")
    other = make_product(sku="FREE")

    response = staff_api.patch(detail(other.pk), {"sku": "TAKEN"}, format="json")

    assert response.status_code == 400
    assert "sku" in response.json()
    assert Product.objects.get(pk=other.pk).version == 1


def test_a_lone_surrogate_is_a_400(staff_api: APIClient) -> None:
    # Valid JSON, but not encodable as UTF-8: it must not reach the database.
    body = json.dumps(api_product_data(title="bad \ud800 title"))

    response = staff_api.post(LIST, body, content_type="application/json")

    assert response.status_code == 400
    assert "title" in response.json()
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-5.00"}, "price"),
        ({"price": "0.001"}, "price"),
        ({"is_active": "maybe"}, "is_active"),
        ({"title": ["x"]}, "title"),
        ({"image_url": "nope"}, "image_url"),
    ],
)
def test_an_invalid_patch_is_a_400_and_changes_nothing(
    staff_api: APIClient, change: dict[str, Any], field: str
) -> None:
    product = make_product(price=Decimal("5.00"))

    response = staff_api.patch(detail(product.pk), change, format="json")

    assert response.status_code == 400
    assert field in response.json()
    stored = Product.objects.get(pk=product.pk)
    assert (stored.version, stored.price) == (1, Decimal("5.00"))
    assert counts() == (1, 1)


@pytest.mark.parametrize(
    ("body", "content_type", "statuses"),
    [
        pytest.param("sku=X&title=Y&price=1", "application/x-www-form-urlencoded", {415}, id="form-encoded"),
        pytest.param("just text", "text/plain", {415}, id="text-plain"),
        pytest.param("<product/>", "application/xml", {415}, id="xml"),
        pytest.param("{not json", "application/json", {400}, id="broken-json"),
        pytest.param("[1, 2]", "application/json", {400}, id="json-list"),
        pytest.param('"a string"', "application/json", {400}, id="json-string"),
        pytest.param("", "application/json", {400}, id="empty-body"),
        pytest.param(b"\xff\xfe\x00", "application/json", {400}, id="not-utf8"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_not_a_500(
    staff_api: APIClient, body, content_type: str, statuses: set[int]
) -> None:
    response = staff_api.generic("POST", LIST, body, content_type=content_type)

    assert response.status_code in statuses
    assert counts() == (0, 0)


def test_sync_state_follows_the_outbox(staff_api: APIClient) -> None:
    product = make_product()
    assert staff_api.get(detail(product.pk)).json()["sync_state"] == "pending"

    OutboxEvent.objects.filter(product_id=product.pk).update(attempts=1, last_error="broker down")
    assert staff_api.get(detail(product.pk)).json()["sync_state"] == "failed"

    OutboxEvent.objects.filter(product_id=product.pk).update(published_at="2024-01-01T00:00:00Z")
    assert staff_api.get(detail(product.pk)).json()["sync_state"] == "published"

    staff_api.patch(detail(product.pk), {"title": "changed"}, format="json")
    assert staff_api.get(detail(product.pk)).json()["sync_state"] == "pending"
