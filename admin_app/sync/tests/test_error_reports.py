"""A debug page (or an error report) never shows the broker's or a database's password."""

from __future__ import annotations

import sys

from django.test import RequestFactory, override_settings
from django.views.debug import technical_500_response

BROKER_PASSWORD = "broker-s3cret-pw"
DB_PASSWORD = "db-s3cret-pw"


@override_settings(
    DEBUG=True,
    CELERY_BROKER_URL=f"amqp://relay:{BROKER_PASSWORD}@rabbit-1:5672/v;amqp://relay:{BROKER_PASSWORD}@rabbit-2:5672/v",
    CELERY_RESULT_BACKEND=f"db+postgresql://admin:{DB_PASSWORD}@db/admin",
)
def test_the_debug_page_masks_every_password_in_urls() -> None:
    # Under runserver the request's META carries the process environment, database URLs included.
    request = RequestFactory().get("/boom", ADMIN_DATABASE_URL=f"postgres://admin:{DB_PASSWORD}@db:5432/admin_app")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "boom" in page
    assert "rabbit-1:5672" in page  # the URL is shown, its password is not
    assert BROKER_PASSWORD not in page
    assert DB_PASSWORD not in page
