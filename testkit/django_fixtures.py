"""Fixtures of the Django suites (pytest-django), registered by ``testkit.plugin`` when it is active.

Users and clients, the service's Celery app pointed at a vhost of the test module (or at
a broker that refuses connections), and a catalog read API on a local socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery, current_app
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from testkit.broker import REFUSING_URL, Vhost
from testkit.fake_catalog import FakeCatalog
from testkit.users import STAFF_PASSWORD, STAFF_USER

PointAt = Callable[[str], Celery]


@pytest.fixture
def staff_user(db: None) -> Any:
    """Staff holding every model permission of the service (not a superuser)."""
    user = get_user_model().objects.create_user(STAFF_USER, password=STAFF_PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    return user


@pytest.fixture
def viewer_user(db: None) -> Any:
    """Staff allowed to view every model of the service and nothing else."""
    user = get_user_model().objects.create_user("viewer", password=STAFF_PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


@pytest.fixture
def viewer_client(viewer_user: Any) -> Client:
    """A Django test client logged in as a view-only staff member."""
    client = Client()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def plain_user(db: None) -> Any:
    return get_user_model().objects.create_user("customer", password=STAFF_PASSWORD)


@pytest.fixture
def staff_client(staff_user: Any) -> Client:
    """A Django test client logged in as staff (not a superuser: ``admin_client`` is that)."""
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def staff_api(api_client: Any, staff_user: Any) -> Any:
    """An API client of a staff user, authenticated with a session."""
    api_client.force_login(staff_user)
    return api_client


@pytest.fixture
def celery_app() -> Celery:
    """The service's Celery app, as its code finds it (``celery.current_app``)."""
    app: Celery = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's app
    return app


@pytest.fixture
def point_celery_at(monkeypatch: pytest.MonkeyPatch, celery_app: Celery) -> PointAt:
    """``point_celery_at(url)``: the service's Celery app uses the broker at ``url`` for this test."""

    def point(url: str) -> Celery:
        # The environment wins over app.conf in Celery's broker_url lookup: set both.
        monkeypatch.setitem(celery_app.conf, "broker_url", url)
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
        with celery_app.connection_for_write() as conn:
            assert conn.as_uri(include_password=True) == url.split(";")[0]  # the override took effect
        return celery_app

    return point


@pytest.fixture
def broker_vhost(vhost: Vhost, point_celery_at: PointAt) -> Vhost:
    """The service's Celery app on the module's vhost, with the sync and dead-letter queues
    declared (as provisioning does) and empty."""
    point_celery_at(vhost.url)
    vhost.provision()
    vhost.purge(SYNC_QUEUE, DEAD_LETTER_QUEUE)
    return vhost


@pytest.fixture
def broker_down(point_celery_at: PointAt) -> Celery:
    """The service's Celery app pointed at a port where no broker listens."""
    return point_celery_at(REFUSING_URL)


@pytest.fixture
def fake_catalog(settings: Any) -> Iterator[FakeCatalog]:
    """A catalog read API on a real local socket; the admin is pointed at it."""
    server = FakeCatalog().start()
    server.token = settings.CATALOG_SYNC_API_TOKEN  # the admin must send its service token
    settings.CATALOG_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: in-process WSGI requests must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
