"""POST /api/products/import/: a JSON array or NDJSON, a bad row writes nothing, errors by line, a size limit."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from products.models import OutboxEvent, Product
from products.services import product_create

pytestmark = pytest.mark.django_db

IMPORT = "/api/products/import/"


def counts() -> tuple[int, int]:
    return Product.objects.count(), OutboxEvent.objects.count()


def test_a_json_array_creates_updates_and_leaves_identical_rows_alone(staff_api: APIClient) -> None:
    product_create(data={"sku": "SAME", "title": "Same", "price": "1.00"})
    product_create(data={"sku": "MOVE", "title": "Old", "price": "1.00"})
    rows = [
        {"sku": "SAME", "title": "Same", "price": "1"},
        {"sku": "MOVE", "title": "New", "price": 2.5},
        {"sku": "NEW", "title": "Fresh", "price": "3", "is_active": False},
    ]

    response = staff_api.post(IMPORT, rows, format="json")

    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 1}
    assert dict(Product.objects.values_list("sku", "version")) == {"SAME": 1, "MOVE": 2, "NEW": 1}
    assert counts() == (3, 4)


def test_ndjson_is_read_line_by_line(staff_api: APIClient) -> None:
    body = '{"sku": "N-1", "title": "a", "price": "1"}\n\n{"sku": "N-2", "title": "b", "price": "2"}\n'

    response = staff_api.generic("POST", IMPORT, body, content_type="application/x-ndjson")

    assert response.status_code == 200
    assert response.json()["created"] == 2


def test_invalid_rows_are_400_with_every_error_and_nothing_written(staff_api: APIClient) -> None:
    body = '{"sku": "OK", "title": "a", "price": "1"}\n{"sku": "BAD", "title": "", "price": "-2"}\nnope\n'

    response = staff_api.generic("POST", IMPORT, body, content_type="application/x-ndjson")

    assert response.status_code == 400
    body_json = response.json()
    assert body_json["count"] == 3
    assert body_json["errors"][:2] == [
        {"line": 2, "field": "title", "message": "This field cannot be blank."},
        {"line": 2, "field": "price", "message": "Ensure this value is greater than or equal to 0."},
    ]
    assert body_json["errors"][2]["line"] == 3
    assert body_json["errors"][2]["field"] == "non_field_errors"
    assert counts() == (0, 0)


@pytest.mark.parametrize("body", ["{}", '"x"', "[1, 2"])
def test_a_body_that_is_no_array_is_a_400(staff_api: APIClient, body: str) -> None:
    response = staff_api.generic("POST", IMPORT, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 1


def test_a_body_over_the_limit_is_413_before_anything_is_read(staff_api: APIClient, settings) -> None:
    settings.PRODUCT_IMPORT_MAX_BYTES = 100
    rows = [{"sku": f"L-{i}", "title": "t", "price": "1"} for i in range(10)]

    response = staff_api.post(IMPORT, rows, format="json")

    assert response.status_code == 413
    assert "at most 100 bytes" in response.json()["detail"]
    assert counts() == (0, 0)


def test_another_content_type_is_415(staff_api: APIClient) -> None:
    response = staff_api.generic("POST", IMPORT, "sku,title,price\n", content_type="text/csv")

    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["detail"]


@pytest.mark.parametrize("granted", [(), ("add_product",), ("change_product",)])
def test_importing_takes_add_and_change_permissions(api_client: APIClient, viewer_user, granted) -> None:
    viewer_user.user_permissions.add(*Permission.objects.filter(codename__in=granted))
    api_client.force_login(viewer_user)

    response = api_client.post(IMPORT, [{"sku": "P", "title": "t", "price": "1"}], format="json")

    assert response.status_code == 403
    assert counts() == (0, 0)


def test_a_token_client_imports(api_client: APIClient, staff_user) -> None:
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=staff_user).key
    body = json.dumps([{"sku": "T", "title": "t", "price": "1"}])

    response = api_client.generic(
        "POST", IMPORT, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )

    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
