"""The worker's Celery app on the test module's vhost, with the sync topology declared."""

from __future__ import annotations

import logging

import pytest
from celery import Celery
from django.test import Client

from sync_contract.topology import declare_topology
from testkit.broker import Vhost

logging.getLogger("pika").setLevel(logging.WARNING)  # pika logs every socket step at INFO


@pytest.fixture
def broker(broker_vhost: Vhost, celery_app: Celery) -> Vhost:
    """The module's vhost with both queues declared as the worker declares them, and empty."""
    with celery_app.connection_for_write() as connection:
        declare_topology(connection.default_channel)
    return broker_vhost


@pytest.fixture
def service_client(settings) -> Client:
    """A client of the catalog's /api/sync/* as the admin service calls it (its bearer token)."""
    return Client(headers={"Authorization": f"Bearer {settings.CATALOG_SYNC_API_TOKEN}"})
