"""The OpenAPI schema (/api/schema/) and the API agree: schemathesis calls every operation with generated data.

No 5xx, and every response matches its documented schema. As a staff client with a token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = pytest.mark.django_db


@pytest.fixture
def keep_the_test_connection() -> Iterator[None]:
    # As Django's test client does: requests must not close the test's connection (its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_api_answers_as_its_schema_says(staff_user, keep_the_test_connection) -> None:
    headers = {"Authorization": f"Token {Token.objects.create(user=staff_user).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/products/", "/api/products/import/", "/api/auth/token/"}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        call()


def test_the_schema_and_its_page_are_for_staff(client, staff_client, viewer_client) -> None:
    assert client.get("/api/schema/").status_code in (401, 403)
    assert staff_client.get("/api/schema/").status_code == 200
    page = staff_client.get("/api/docs/")
    assert page.status_code == 200
    assert "swagger-ui" in page.content.decode()
