"""The catalog's OpenAPI schema (/api/schema/) and its read API agree: schemathesis calls every operation.

No 5xx, and every response matches its documented schema; the docs page is for staff.
"""

from __future__ import annotations

import pytest

from catalog.services import catalog_apply_events
from testkit.events import product_event
from testkit.openapi import call_every_operation

pytestmark = pytest.mark.django_db


def test_the_read_api_answers_as_its_schema_says(keep_the_test_connection) -> None:
    catalog_apply_events(events=[product_event(1, 1), product_event(2, 3)])
    assert call_every_operation() >= {"/api/products/", "/api/sync/versions/", "/api/sync/checksums/", "/api/sync/lag/"}


def test_the_docs_page_is_for_staff(client, staff_client) -> None:
    assert client.get("/api/schema/").status_code == 200  # public, like the read API
    assert client.get("/api/docs/").status_code == 403
    assert "swagger-ui" in staff_client.get("/api/docs/").content.decode()
