"""The OpenAPI schema (/api/schema/) and the API agree: schemathesis calls every operation with generated data.

No 5xx, and every response matches its documented schema. As a staff client with a token.
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from testkit.openapi import call_every_operation

pytestmark = pytest.mark.django_db


def test_the_api_answers_as_its_schema_says(staff_user, keep_the_test_connection) -> None:
    headers = {"Authorization": f"Token {Token.objects.create(user=staff_user).key}"}
    assert call_every_operation(headers=headers) >= {"/api/products/", "/api/products/import/", "/api/auth/token/"}


def test_the_schema_and_its_page_are_for_staff(client, staff_client, viewer_client) -> None:
    assert client.get("/api/schema/").status_code in (401, 403)
    assert staff_client.get("/api/schema/").status_code == 200
    page = staff_client.get("/api/docs/")
    assert page.status_code == 200
    assert "swagger-ui" in page.content.decode()
