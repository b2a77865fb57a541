from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from .factories import PASSWORD


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("staff", password=PASSWORD, is_staff=True)


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user("customer", password=PASSWORD)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    """An API client of a staff user, authenticated with a session."""
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def catalog(settings):
    """A catalog read API on a real local socket (tests.fake_catalog); the admin is pointed at it."""
    from .fake_catalog import FakeCatalog

    server = FakeCatalog().start()
    settings.CATALOG_API_URL = server.url
    yield server
    server.stop()
