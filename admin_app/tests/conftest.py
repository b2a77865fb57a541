from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from .factories import PASSWORD


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Hashing a password properly takes a good part of a second; test users need no protection.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
