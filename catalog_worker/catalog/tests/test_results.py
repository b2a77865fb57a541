"""catalog.results.SyncResultBackend: the rows it stores are django-celery-results' rows."""

from __future__ import annotations

import uuid

import pytest
from celery import states
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

from catalog.results import SyncResultBackend
from catalog.tasks import sync_products
from sync_contract import InvalidPayload

pytestmark = pytest.mark.django_db

COMPARED = (
    "status",
    "result",
    "traceback",
    "meta",
    "content_type",
    "content_encoding",
    "task_name",
    "task_args",
    "task_kwargs",
    "worker",
    "periodic_task_name",
)


def stored(task_id: str) -> dict:
    return TaskResult.objects.filter(task_id=task_id).values(*COMPARED).get()


@pytest.mark.parametrize(
    ("status", "value"),
    [
        (states.FAILURE, InvalidPayload("events[0].version must be a positive 64-bit integer")),
        (states.RETRY, ConnectionError("catalog database restarting")),
        (states.SUCCESS, {"applied": 3, "stale": 1}),
    ],
)
def test_one_statement_stores_what_django_celery_results_stores(status, value) -> None:
    backend = sync_products.backend
    assert isinstance(backend, SyncResultBackend)
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    traceback = "Traceback (most recent call last): ..." if status != states.SUCCESS else None

    sync_products.push_request(
        id=ours, task="catalog.sync_products", argsrepr="[1 events: 7:2]", kwargsrepr="{}", hostname="catalog@test"
    )
    try:
        request = sync_products.request
        encoded = backend.encode_result(value, status)  # what Celery's store_result hands to _store_result
        backend._store_result(ours, encoded, status, traceback=traceback, request=request)
        DatabaseBackend._store_result(backend, theirs, encoded, status, traceback=traceback, request=request)
    finally:
        sync_products.pop_request()

    assert stored(ours) == stored(theirs)
    assert stored(ours)["status"] == status


def test_a_later_state_replaces_the_earlier_one_and_keeps_the_creation_date() -> None:
    backend = sync_products.backend
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, ConnectionError("down"), states.RETRY)
    created = TaskResult.objects.get(task_id=task_id).date_created

    backend.store_result(task_id, {"applied": 1, "stale": 0}, states.SUCCESS)

    row = TaskResult.objects.get(task_id=task_id)
    assert (row.status, row.date_created) == (states.SUCCESS, created)
    assert row.date_done >= created
    assert TaskResult.objects.filter(task_id=task_id).count() == 1
