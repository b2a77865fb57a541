"""/healthz: answers without a login once the database answers (the container health check)."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_answers_ok_without_login_and_only_to_get(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405
