"""API tokens, and password attempts throttled before the password is hashed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from products.auth import check_throttle_settings
from testkit.users import basic_auth, count_hashes

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
LIST = "/api/products/"


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (the test settings' hasher), one entry each."""
    return count_hashes(monkeypatch)


@pytest.fixture
def rates(settings: Any) -> Any:
    def set_rates(address: str = "100/minute", user: str = "100/minute") -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"password_address": address, "password_user": user},
        }

    return set_rates


class TestTokens:
    def test_staff_get_a_token_that_authenticates_without_a_password(self, api_client: APIClient, staff_user, hashes):
        response = api_client.post(TOKEN, {"username": "staff", "password": staff_password()}, format="json")

        assert response.status_code == 200
        key = response.json()["token"]
        assert Token.objects.get(user=staff_user).key == key
        hashes.clear()
        listed = api_client.get(LIST, HTTP_AUTHORIZATION=f"Token {key}")
        assert listed.status_code == 200
        assert hashes == []  # a token is looked up, never hashed
        again = api_client.post(TOKEN, {"username": "staff", "password": staff_password()}, format="json")
        assert again.json() == {"token": key}

    def test_wrong_credentials_are_400_and_non_staff_403_in_json(self, api_client: APIClient, staff_user, plain_user):
        wrong = api_client.post(TOKEN, {"username": "staff", "password": "nope"}, format="json")
        missing = api_client.post(TOKEN, {"username": "staff"}, format="json")
        customer = api_client.post(TOKEN, {"username": "customer", "password": staff_password()}, format="json")

        assert wrong.status_code == 400
        assert wrong.json() == {"non_field_errors": ["Unable to log in with the provided credentials."]}
        assert missing.status_code == 400
        assert "password" in missing.json()
        assert customer.status_code == 403
        assert customer.json() == {"detail": "API tokens are for staff users."}
        assert not Token.objects.exists()

    def test_a_token_revoked_in_the_admin_no_longer_works(self, api_client: APIClient, admin_client, staff_user):
        token = Token.objects.create(user=staff_user)
        listing = admin_client.get("/admin/authtoken/tokenproxy/")
        assert listing.status_code == 200
        assert "staff" in listing.content.decode()

        admin_client.post(f"/admin/authtoken/tokenproxy/{staff_user.pk}/delete/", {"post": "yes"})

        assert not Token.objects.filter(key=token.key).exists()
        assert api_client.get(LIST, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401


def staff_password() -> str:
    from testkit.users import STAFF_PASSWORD

    return STAFF_PASSWORD


class TestPasswordThrottle:
    def test_basic_is_refused_with_429_before_the_hash_once_an_address_spent_its_rate(
        self, api_client: APIClient, staff_user, hashes, rates
    ):
        rates(address="3/minute")
        for username in ("staff", "guess-1", "guess-2"):
            assert api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth(username, "wrong")).status_code == 401
        spent = len(hashes)
        assert spent >= 3

        refused = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("guess-3", "wrong"))
        right = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("staff"))

        assert (refused.status_code, right.status_code) == (429, 429)
        assert 0 < int(refused["Retry-After"]) <= 60
        assert "use a token" in refused.json()["detail"]
        assert len(hashes) == spent  # throttled: no hash computed
        other_address = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("staff"), REMOTE_ADDR="10.0.0.7")
        assert other_address.status_code == 200

    def test_guessing_one_users_password_from_many_addresses_is_throttled_per_user(
        self, api_client: APIClient, staff_user, hashes, rates
    ):
        rates(user="2/minute")
        for n in (1, 2):
            response = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("staff", "x"), REMOTE_ADDR=f"10.0.1.{n}")
            assert response.status_code == 401
        spent = len(hashes)

        response = api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("staff"), REMOTE_ADDR="10.0.1.3")

        assert response.status_code == 429
        assert len(hashes) == spent

    def test_the_token_endpoint_counts_password_attempts_too(self, api_client: APIClient, staff_user, hashes, rates):
        rates(user="1/minute")
        assert api_client.post(TOKEN, {"username": "staff", "password": "x"}, format="json").status_code == 400
        spent = len(hashes)

        response = api_client.post(TOKEN, {"username": "staff", "password": staff_password()}, format="json")

        assert response.status_code == 429
        assert "Retry-After" in response
        assert len(hashes) == spent

    def test_the_counts_live_in_the_database_cache_every_worker_shares(self, api_client: APIClient, staff_user):
        api_client.get(LIST, HTTP_AUTHORIZATION=basic_auth("staff", "wrong"))

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM admin_cache WHERE cache_key LIKE %s", ["%throttle_password_%"])
            (rows,) = cursor.fetchone()
        assert rows == 2  # one per address, one per username

    def test_the_cache_table_is_unlogged_so_a_count_waits_for_no_wal_flush(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'admin_cache'")
            assert cursor.fetchone() == ("u",)


class TestSettingsCheck:
    def test_a_process_local_cache_is_a_start_up_error(self, settings):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

        (error,) = check_throttle_settings()

        assert error.id == "products.E001"
        assert "each worker process would count password attempts on its own" in error.msg

    @pytest.mark.parametrize("rate", ["ten per minute", "10/fortnight", None, "0/minute"])
    def test_an_unreadable_rate_is_a_start_up_error(self, rates, rate):
        rates(user=rate)

        (error,) = check_throttle_settings()

        assert error.id == "products.E002"
        assert "password_user" in error.msg

    def test_the_settings_as_shipped_pass(self):
        assert check_throttle_settings() == []
