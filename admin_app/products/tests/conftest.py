"""Products in known sync states, for the admin, API and sync-state tests of ``products``."""

from __future__ import annotations

import pytest
from django.utils import timezone

from products.models import OutboxEvent
from products.services import product_update

from .factories import make_product


@pytest.fixture
def one_per_state():
    """Three products whose current version is pending, failed and published."""
    pending = make_product(sku="PENDING-ONE")
    failed = make_product(sku="FAILED-ONE")
    published = make_product(sku="PUBLISHED-ONE")
    OutboxEvent.objects.filter(product_id=failed.pk).update(attempts=2, last_error="ConnectionRefusedError")
    OutboxEvent.objects.filter(product_id=published.pk).update(published_at=timezone.now())
    return {"pending": pending, "failed": failed, "published": published}


def publish(*products) -> None:
    OutboxEvent.objects.filter(product_id__in=[p.pk for p in products]).update(published_at=timezone.now())


@pytest.fixture
def four(fake_catalog):
    """applied (catalog holds v1), published (catalog has nothing), behind (catalog older), pending."""
    applied, published, behind, pending = (make_product(sku=s) for s in ("APPLIED", "PUBLISHED", "BEHIND", "PENDING"))
    behind = product_update(product_id=behind.pk, data={"title": "v2"})
    publish(applied, published, behind)
    fake_catalog.hold(applied.pk, 1)
    fake_catalog.hold(behind.pk, 1)
    fake_catalog.hold(pending.pk, 1)  # held, but its current version still waits in the outbox
    return {"applied": applied, "published": published, "behind": behind, "pending": pending}
