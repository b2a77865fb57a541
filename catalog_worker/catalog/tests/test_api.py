"""The catalog's public, read-only API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.services import catalog_apply_events
from testkit.events import product_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog() -> None:
    """Products 3 and 11 live, 7 deleted, as the sync worker would have left them."""
    catalog_apply_events(
        events=[
            product_event(11, 2, sku="LAMP", title="Lamp", price=Decimal("40.00")),
            product_event(3, 5, sku="MUG", title="Mug ☕", price=Decimal("12.50"), is_active=False),
            product_event(7, 1, sku="GONE", title="Gone"),
        ]
    )
    catalog_apply_events(events=[product_event(7, 2, op="delete")])


def test_the_list_shows_only_live_products_with_their_version(client, catalog) -> None:
    response = client.get("/api/products/")

    assert response.status_code == 200
    body = response.json()
    assert "count" not in body  # a cursor page: no COUNT(*) per request
    assert [(p["id"], p["sku"], p["version"]) for p in body["results"]] == [(3, "MUG", 5), (11, "LAMP", 2)]
    mug = body["results"][0]
    assert (mug["title"], mug["price"], mug["is_active"]) == ("Mug ☕", "12.50", False)
    assert set(mug) == {"id", "sku", "title", "description", "price", "image_url", "is_active", "version", "applied_at"}


def test_the_detail_is_keyed_by_the_admin_product_id(client, catalog) -> None:
    response = client.get("/api/products/11/")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["sku"], response.json()["version"]) == (11, "LAMP", 2)


def test_a_tombstoned_product_is_not_found(client, catalog) -> None:
    assert client.get("/api/products/7/").status_code == 404


def test_an_unknown_product_is_not_found(client, catalog) -> None:
    assert client.get("/api/products/999/").status_code == 404


def test_the_list_is_paginated(client) -> None:
    catalog_apply_events(events=[product_event(pid, 1) for pid in range(1, 106)])

    with CaptureQueriesContext(connection) as queries:
        first = client.get("/api/products/").json()
    second = client.get(first["next"]).json()

    assert "cursor=" in first["next"]
    assert first["previous"] is None
    assert len(first["results"]) == 100
    assert [p["id"] for p in second["results"]] == list(range(101, 106))
    assert second["next"] is None
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/products/"),
        ("put", "/api/products/3/"),
        ("patch", "/api/products/3/"),
        ("delete", "/api/products/3/"),
    ],
)
def test_the_api_is_read_only(client, catalog, method: str, path: str) -> None:
    response = getattr(client, method)(path, data={"sku": "X", "title": "X"}, content_type="application/json")

    assert response.status_code == 405
    assert client.get("/api/products/3/").json()["version"] == 5


def test_the_api_is_public(client, catalog) -> None:
    # No session, no credentials.
    assert client.get("/api/products/").status_code == 200
    assert client.get("/api/products/3/").status_code == 200


def test_credentials_change_nothing(client, catalog) -> None:
    staff = get_user_model().objects.create_superuser("boss", password="a-long-password-1")
    client.force_login(staff)

    assert client.delete("/api/products/3/").status_code == 405
    assert len(client.get("/api/products/").json()["results"]) == 2
