"""The catalog's OpenAPI schema (/api/schema/) and its read API agree: schemathesis calls every operation.

No 5xx, and every response matches its documented schema; the docs page is for staff.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from catalog.services import catalog_apply_events
from testkit.events import product_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def keep_the_test_connection() -> Iterator[None]:
    # As Django's test client does: requests must not close the test's connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_read_api_answers_as_its_schema_says(keep_the_test_connection) -> None:
    catalog_apply_events(events=[product_event(1, 1), product_event(2, 3)])
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/products/", "/api/sync/versions/", "/api/sync/lag/"}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        call()


def test_the_docs_page_is_for_staff(client, staff_client) -> None:
    assert client.get("/api/schema/").status_code == 200  # public, like the read API
    assert client.get("/api/docs/").status_code == 403
    assert "swagger-ui" in staff_client.get("/api/docs/").content.decode()
