"""/healthz (liveness) and /readyz (readiness: database, broker, a relay heartbeat), without a login."""

import pytest
from celery import current_app
from django.test import Client

from sync.relay import RoundResult
from sync.relay_status import RelayStatusRecorder
from sync_contract.topology import declare_topology

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_without_login_and_only_to_get(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_readyz_names_each_part_that_is_not_ready(client: Client, broker_down) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.content.decode().splitlines() == ["broker unreachable", "no relay heartbeat within 60s"]
    assert client.get("/healthz").status_code == 200  # alive all the same: no reason to restart it


def test_readyz_is_ok_with_the_broker_and_a_fresh_relay_heartbeat(client: Client, broker_vhost, settings) -> None:
    with current_app.connection_for_write() as connection:
        declare_topology(connection.default_channel)
    assert client.get("/readyz").content == b"no relay heartbeat within 60s\n"

    RelayStatusRecorder(relay_id="host:1").record_round(RoundResult(claimed=1, published=1))
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]

    settings.RELAY_STATUS_STALE = 0.000001  # the heartbeat is now too old
    assert client.get("/readyz").status_code == 503
