"""The admin does not trust the catalog blindly: a malformed answer is "unknown", never a 500;
an absurd catalog version cannot push a product's version to the bigint limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from products.models import OutboxEvent, Product
from products.tests.factories import make_product
from sync import catalog_client
from sync.drift_check import MAX_JUMP, run_drift_check
from sync.models import DriftCheck

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"
MALFORMED = [
    {"products": [{"id": 1, "version": "9", "deleted": False}]},
    {"products": [{"id": 1, "version": 2**63, "deleted": False}]},
    {"products": [{"id": True, "version": 1, "deleted": False}]},
    {"products": [{"id": 1, "version": 1}]},
    {"products": "everything"},
    {"products": [None]},
    ["not", "an", "object"],
    {},
]


@pytest.mark.parametrize("answer", MALFORMED)
def test_a_malformed_versions_answer_shows_unknown_never_an_error(admin_client, fake_catalog, answer) -> None:
    make_product(sku="ONE")
    OutboxEvent.objects.update(published_at=timezone.now())  # published: its state asks the catalog
    fake_catalog.answers["/api/sync/versions/"] = answer

    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert "(catalog: unknown)" in response.content.decode()
    assert catalog_client.versions_or_none([1]) is None


@pytest.mark.parametrize(
    "lag",
    [
        {"minutes": 15, "count": 1, "p50_seconds": "fast", "p95_seconds": None, "max_seconds": None, "series": []},
        {"minutes": 15, "count": 1, "p50_seconds": 1, "p95_seconds": 1, "max_seconds": 1, "series": [{"start": 3}]},
        {"series": None},
        [1, 2],
    ],
)
def test_a_malformed_lag_answer_shows_unknown_on_the_health_page(admin_client, fake_catalog, lag) -> None:
    fake_catalog.answers["/api/sync/lag/"] = lag
    assert catalog_client.lag(minutes=15) is None
    assert admin_client.get("/admin/sync-health/").status_code == 200


def test_an_absurd_catalog_version_is_not_repaired_to_the_bigint_limit_and_the_run_is_recorded(fake_catalog) -> None:
    product = make_product(sku="AHEAD")
    OutboxEvent.objects.update(published_at=timezone.now() - timedelta(hours=1))  # nothing in flight
    fake_catalog.hold(product.pk, product.version + MAX_JUMP + 1)

    check = run_drift_check(repair_found=True, grace_seconds=0)

    product.refresh_from_db()
    assert product.version == 1
    assert DriftCheck.objects.filter(pk=check.pk).exists()
    assert not check.ok
    assert "not repaired" in check.error
    assert str(product.pk) in check.error
    assert Product.objects.get(pk=product.pk).version < 2**62
