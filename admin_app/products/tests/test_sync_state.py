"""Sync state "applied" from the catalog: admin list, detail, filters and API; degrade to unknown."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"


def test_the_changelist_shows_applied_with_one_catalog_call_per_page(admin_client, fake_catalog, four) -> None:
    fake_catalog.requests.clear()
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    states = {p.sku: p.sync_state for p in response.context["cl"].result_list}
    assert states == {"APPLIED": "applied", "PUBLISHED": "published", "BEHIND": "published", "PENDING": "pending"}
    assert len([r for r in fake_catalog.requests if r.startswith("/api/sync/versions/")]) == 1
    assert ">applied<" in response.content.decode()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("applied", {"APPLIED"}),
        ("published", {"PUBLISHED", "BEHIND"}),
        ("pending", {"PENDING"}),
    ],
)
def test_the_changelist_filters_by_every_state(admin_client, four, state, expected) -> None:
    response = admin_client.get(CHANGELIST, {"sync_state": state})

    assert {p.sku for p in response.context["cl"].result_list} == expected


def test_the_state_scan_is_capped_and_says_so(admin_client, four, monkeypatch) -> None:
    monkeypatch.setattr("products.selectors.STATE_SCAN_LIMIT", 1)
    from products.selectors import filter_by_sync_state, products_with_sync_state

    result = filter_by_sync_state(products_with_sync_state(), "published", scan_limit=1)
    assert result.note
    assert "most recently changed" in result.note
    assert result.queryset.count() <= 1


def test_catalog_unreachable_shows_unknown_never_an_error(admin_client, four, settings) -> None:
    settings.CATALOG_API_URL = "http://127.0.0.1:9"

    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "published (catalog: unknown)" in html
    assert "The catalog cannot be reached" in html
    applied = admin_client.get(CHANGELIST, {"sync_state": "applied"})
    assert applied.status_code == 200
    assert list(applied.context["cl"].result_list) == []
    published = admin_client.get(CHANGELIST, {"sync_state": "published"})
    assert {p.sku for p in published.context["cl"].result_list} == {"APPLIED", "PUBLISHED", "BEHIND"}


def test_a_slow_catalog_costs_at_most_the_timeout(admin_client, fake_catalog, four, settings) -> None:
    settings.CATALOG_API_TIMEOUT = 0.3
    fake_catalog.delay = 2.0

    started = time.monotonic()
    response = admin_client.get(CHANGELIST)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert "published (catalog: unknown)" in response.content.decode()
    assert elapsed < 1.5


def test_the_change_page_shows_state_and_catalog_version(admin_client, four) -> None:
    html = admin_client.get(f"/admin/products/product/{four['behind'].pk}/change/").content.decode()
    assert re.search(r'field-catalog_version.*?class="readonly">1</div>', html, re.DOTALL)
    assert re.search(r'field-sync_state.*?class="readonly">published</div>', html, re.DOTALL)
    applied_html = admin_client.get(f"/admin/products/product/{four['applied'].pk}/change/").content.decode()
    assert re.search(r'field-sync_state.*?class="readonly">applied</div>', applied_html, re.DOTALL)


def test_the_api_reports_applied_and_the_catalog_version(staff_api, fake_catalog, four) -> None:
    fake_catalog.requests.clear()
    body = staff_api.get("/api/products/").json()

    by_sku = {p["sku"]: p for p in body["results"]}
    assert {k: v["sync_state"] for k, v in by_sku.items()} == {
        "APPLIED": "applied",
        "PUBLISHED": "published",
        "BEHIND": "published",
        "PENDING": "pending",
    }
    assert (by_sku["BEHIND"]["version"], by_sku["BEHIND"]["catalog_version"]) == (2, 1)
    assert by_sku["PUBLISHED"]["catalog_version"] is None
    assert len(fake_catalog.requests) == 1
    one = staff_api.get(f"/api/products/{four['applied'].pk}/").json()
    assert (one["sync_state"], one["catalog_version"]) == ("applied", 1)


def test_the_api_filters_by_state(staff_api, four) -> None:
    applied = staff_api.get("/api/products/", {"sync_state": "applied"}).json()
    assert [p["sku"] for p in applied["results"]] == ["APPLIED"]
    assert staff_api.get("/api/products/", {"sync_state": "nonsense"}).status_code == 400


def test_writes_do_not_wait_for_the_catalog(staff_api, fake_catalog, settings) -> None:
    fake_catalog.delay = 2.0
    started = time.monotonic()
    response = staff_api.post("/api/products/", {"sku": "W1", "title": "t", "price": "1.00"}, format="json")
    assert response.status_code == 201
    assert response.json()["sync_state"] == "pending"
    assert time.monotonic() - started < 1.5
