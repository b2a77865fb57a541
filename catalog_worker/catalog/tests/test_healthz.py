"""/healthz (liveness) and /readyz (readiness: database and broker), without a login."""

import pytest
from celery import current_app
from django.test import Client

from sync_contract.topology import declare_topology

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_without_login_and_only_to_get(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_readyz_says_the_broker_is_unreachable(client: Client, broker_down) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content == b"broker unreachable\n"
    assert client.get("/healthz").status_code == 200


def test_readyz_is_ok_when_database_and_broker_answer(client: Client, broker_vhost) -> None:
    with current_app.connection_for_write() as connection:
        declare_topology(connection.default_channel)
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.content == b"ok\n"
    assert client.post("/readyz").status_code == 405
