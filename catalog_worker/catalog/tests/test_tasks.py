"""catalog.tasks.sync_products: decode, validate, apply, and own the retries."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any
from unittest import mock

import pytest
from celery import states
from celery.exceptions import Reject, Retry
from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from catalog.counters import counter_totals
from catalog.tasks import retry_countdown, sync_products
from sync_contract import TASK_SYNC_PRODUCTS
from testkit.events import envelope_of, product_event

from .snapshots import catalog_rows

pytestmark = pytest.mark.django_db


def run_in_worker_context(
    envelope: Any,
    *,
    retries: int = 0,
    task_id: str | None = None,
    eager: bool = True,
    **request: Any,
) -> Any:
    """Run the task body as a worker would for this delivery, without a broker.

    ``is_eager`` keeps ``self.retry`` from publishing: it raises Retry, which is
    what the worker acts on. ``eager=False`` runs it exactly as in a worker (which
    stores its SUCCESS), for paths that do not retry.
    """
    sync_products.push_request(
        id=task_id or str(uuid.uuid4()),
        retries=retries,
        is_eager=eager,
        called_directly=False,
        args=[envelope],
        kwargs={},
        **request,
    )
    try:
        return sync_products.run(envelope)
    finally:
        sync_products.pop_request()


def test_the_task_is_registered_under_the_contract_name() -> None:
    assert sync_products.name == TASK_SYNC_PRODUCTS == "catalog.sync_products"


def test_a_valid_envelope_is_applied_and_counted() -> None:
    envelope = envelope_of(
        product_event(1, 1), product_event(2, 1), product_event(2, 3, title="p2 v3"), product_event(2, 2)
    )

    result = sync_products.apply(args=[envelope])

    assert result.state == states.SUCCESS
    assert result.get() == {"applied": 2, "stale": 2, "superseded": [[2, 1], [2, 2]]}
    assert [(r["product_id"], r["version"], r["title"]) for r in catalog_rows()] == [
        (1, 1, "Product 1 v1"),
        (2, 3, "p2 v3"),
    ]


def test_a_redelivered_envelope_is_counted_stale() -> None:
    envelope = envelope_of(product_event(1, 1), product_event(2, 1))
    sync_products.apply(args=[envelope]).get()
    before = catalog_rows()

    again = sync_products.apply(args=[copy.deepcopy(envelope)]).get()

    assert again == {"applied": 0, "stale": 2}
    assert catalog_rows() == before


def test_a_single_event_message_is_applied() -> None:
    assert run_in_worker_context(envelope_of(product_event(3, 1, op="delete"))) == {"applied": 1, "stale": 0}
    assert [(r["product_id"], r["deleted"]) for r in catalog_rows()] == [(3, True)]


def _bad_last_event() -> dict[str, Any]:
    envelope = envelope_of(product_event(1, 2, title="would change"), product_event(9, 1), product_event(10, 1))
    envelope["events"][-1]["data"]["price"] = "-1.00"
    return envelope


BAD_ENVELOPES = [
    pytest.param({"schema_version": 99, "events": []}, id="schema-version"),
    pytest.param("not an object", id="not-an-object"),
    pytest.param(None, id="null"),
    pytest.param({"schema_version": 1, "events": []}, id="empty-batch"),
    pytest.param(_bad_last_event(), id="only-the-last-event-is-bad"),
]


@pytest.mark.parametrize("envelope", BAD_ENVELOPES)
def test_an_invalid_payload_is_rejected_without_requeue_and_nothing_is_written(envelope: Any) -> None:
    sync_products.apply(args=[envelope_of(product_event(1, 1))]).get()
    before = catalog_rows()
    task_id = str(uuid.uuid4())

    with pytest.raises(Reject) as rejected:
        run_in_worker_context(envelope, task_id=task_id)

    assert rejected.value.requeue is False
    assert catalog_rows() == before
    # The reason is kept, keyed by task id, in the result backend.
    stored = TaskResult.objects.get(task_id=task_id)
    assert stored.status == states.FAILURE
    assert "InvalidPayload" in stored.result


def test_a_batch_whose_last_event_is_bad_is_not_half_applied_through_apply() -> None:
    sync_products.apply(args=[envelope_of(product_event(1, 1))]).get()
    before = catalog_rows()

    result = sync_products.apply(args=[_bad_last_event()])

    assert result.state == states.REJECTED
    assert isinstance(result.result, Reject)
    assert result.result.requeue is False
    assert "events[2].data.price" in str(result.result.reason)
    assert catalog_rows() == before


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize("retries", [0, 3])
def test_a_transient_database_error_is_retried_with_bounded_backoff(settings, error, retries: int) -> None:
    settings.CATALOG_RETRY_BACKOFF_BASE = 0.5
    settings.CATALOG_RETRY_BACKOFF_MAX = 30.0
    delay = min(30.0, 0.5 * 2**retries)

    with (
        mock.patch("catalog.tasks.catalog_apply_events", side_effect=error("server closed the connection")),
        pytest.raises(Retry) as retried,
    ):
        run_in_worker_context(envelope_of(product_event(1, 1)), retries=retries)

    # One second more: Celery's native delayed delivery refuses a countdown under 1 s.
    assert 1 + delay / 2 <= retried.value.when <= 1 + delay
    assert isinstance(retried.value.exc, error)
    assert catalog_rows() == []


def test_transient_retries_stop_after_the_configured_maximum(settings) -> None:
    settings.CATALOG_RETRY_MAX = 3
    with mock.patch("catalog.tasks.catalog_apply_events", side_effect=OperationalError("db down")) as apply_events:
        result = sync_products.apply(args=[envelope_of(product_event(1, 1))])

    # The first run plus CATALOG_RETRY_MAX retries, then the error itself: the message is dead-lettered.
    assert apply_events.call_count == 4
    assert result.state == states.FAILURE
    assert isinstance(result.result, OperationalError)


def test_a_non_transient_error_is_not_retried() -> None:
    with mock.patch("catalog.tasks.catalog_apply_events", side_effect=ValueError("a bug")) as apply_events:
        with pytest.raises(ValueError, match="a bug"):
            run_in_worker_context(envelope_of(product_event(1, 1)))

        result = sync_products.apply(args=[envelope_of(product_event(1, 1))])

    assert apply_events.call_count == 2  # once per run: no retry
    assert result.state == states.FAILURE
    assert isinstance(result.result, ValueError)


@pytest.mark.parametrize("retries", range(12))
def test_retry_countdown_stays_between_half_the_delay_and_the_delay(settings, retries: int) -> None:
    settings.CATALOG_RETRY_BACKOFF_BASE = 0.5
    settings.CATALOG_RETRY_BACKOFF_MAX = 30.0
    delay = min(30.0, 0.5 * 2**retries)

    samples = [retry_countdown(retries) for _ in range(200)]

    assert all(delay / 2 <= s <= delay for s in samples)
    assert len(set(samples)) > 1  # jittered, so workers that failed together spread out


def test_retry_countdown_is_capped(settings) -> None:
    settings.CATALOG_RETRY_BACKOFF_BASE = 1.0
    settings.CATALOG_RETRY_BACKOFF_MAX = 4.0

    samples = [retry_countdown(r) for r in range(3, 40) for _ in range(20)]

    assert max(samples) <= 4.0
    assert min(samples) >= 2.0


# --- one statement per message: catalog rows, counters and SUCCESS together ------------------


def test_in_a_worker_the_success_is_stored_with_the_batch_by_one_statement() -> None:
    task_id = str(uuid.uuid4())
    envelope = envelope_of(product_event(1, 1), product_event(2, 1), product_event(2, 2))

    with CaptureQueriesContext(connection) as captured:
        outcome = run_in_worker_context(
            envelope,
            task_id=task_id,
            eager=False,
            task=TASK_SYNC_PRODUCTS,
            argsrepr="[3 events: 1:1,2:1,2:2]",
            hostname="catalog@test",
        )

    # Inside the test's own transaction the task's BEGIN/COMMIT become a savepoint.
    statements = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) == 1

    assert outcome == {"applied": 2, "stale": 1, "superseded": [[2, 1]]}
    stored = TaskResult.objects.get(task_id=task_id)
    assert stored.status == states.SUCCESS
    assert json.loads(stored.result) == outcome
    assert stored.content_type == "application/json"
    assert (stored.task_name, stored.worker) == (TASK_SYNC_PRODUCTS, "catalog@test")
    assert json.loads(stored.task_args) == "[3 events: 1:1,2:1,2:2]"
    assert stored.date_done is not None
    assert counter_totals() == (2, 1, 1)
    assert [(r["product_id"], r["version"]) for r in catalog_rows()] == [(1, 1), (2, 2)]


def test_a_message_whose_statement_fails_leaves_no_rows_no_counts_and_no_success() -> None:
    # A task id longer than the result table allows makes the one statement fail in
    # PostgreSQL after the upsert part ran: nothing of it may remain.
    task_id = "t" * 300

    # (A savepoint: the test's own transaction must survive the error.)
    with pytest.raises(DataError, match="too long"), transaction.atomic():
        run_in_worker_context(envelope_of(product_event(1, 1)), task_id=task_id, eager=False)

    assert catalog_rows() == []
    assert counter_totals() == (0, 0, 0)
    assert not TaskResult.objects.filter(task_id=task_id).exists()


def test_an_eager_run_applies_and_counts_but_stores_no_result() -> None:
    result = sync_products.apply(args=[envelope_of(product_event(1, 1))])

    assert result.get() == {"applied": 1, "stale": 0}
    assert counter_totals() == (1, 0, 1)
    assert not TaskResult.objects.filter(task_id=result.id).exists()
