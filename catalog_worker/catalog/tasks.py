"""The catalog's one task. Thin: decode, validate, call the service, own the retries."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import task_prerun
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction

from catalog.counters import counter_shard
from catalog.db_wait import wait_for_database
from catalog.results import task_success_row
from catalog.services import ApplyResult, catalog_apply_events
from sync_contract import TASK_SYNC_PRODUCTS, InvalidPayload, ProductEvent, validate_envelope
from sync_contract.logs import event_fields, log_each_event, log_one_event, product_versions

logger = logging.getLogger(__name__)

# Only what heals by itself is retried: a lost or refused database connection.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with equal jitter, capped."""
    delay: float = min(settings.CATALOG_RETRY_BACKOFF_MAX, settings.CATALOG_RETRY_BACKOFF_BASE * 2**retries)
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto


@task_prerun.connect
def _drop_broken_db_connections(task: Task[Any, Any] | None = None, **kwargs: Any) -> None:
    # Connections are reused across tasks (CELERY_DB_REUSE_MAX); Django's request-start
    # routine closes one that errored or aged out, and arms the health check
    # (CONN_HEALTH_CHECKS), so a task after a database restart starts on a fresh one.
    # Not for a task run in-process (eager): the caller owns that connection.
    if task is not None and task.request.is_eager:
        return
    close_old_connections()


class SyncOutcome(TypedDict):
    """What the task returns (and stores as its result)."""

    applied: int
    stale: int
    # [product_id, version] of each event a newer one of its message replaced; only when there is one.
    superseded: NotRequired[list[list[int]]]


# ignore_result: the task stores its SUCCESS row itself, in the transaction that applies
# the batch (catalog.results); store_errors_even_if_ignored: Celery still stores retries
# and failures.
class SyncTask(Task[[Any], SyncOutcome]):
    # A revoked or expired id never makes the worker ack a sync task away (catalog.remote_control).
    Request = "catalog.remote_control:NeverDiscardedRequest"


@shared_task(name=TASK_SYNC_PRODUCTS, base=SyncTask, bind=True, ignore_result=True, store_errors_even_if_ignored=True)
def sync_products(self: SyncTask, envelope: Any) -> SyncOutcome:
    try:
        events = validate_envelope(envelope)
    except InvalidPayload as exc:
        # Never retried, never half-applied: reject without requeue and the quorum
        # queue dead-letters the message. The reason goes to the log and, keyed by
        # task id, to the result backend.
        task_id = self.request.id
        logger.error(
            "rejecting task_id=%s to the dead-letter queue: %s", task_id, exc, extra=event_fields(task_id=task_id)
        )
        if task_id is not None:  # a direct call, not a delivery, has no id to store it under
            self.backend.mark_as_failure(task_id, exc, request=self.request)
        raise Reject(str(exc), requeue=False) from exc

    while True:
        try:
            # One statement, one commit per message: the catalog rows, the counters and (in
            # a worker; an eager call stores nothing) the SUCCESS result. In an explicit
            # transaction, not as a statement of its own: PostgreSQL finishes a statement
            # whose client died and would commit it, whereas a transaction still waiting for
            # its COMMIT is rolled back, so a worker killed mid-task leaves nothing behind.
            with transaction.atomic():
                result = catalog_apply_events(
                    events=events,
                    counter_shard=counter_shard(),
                    task_result=None if self.request.is_eager else task_success_row(self),
                )
            break
        except TRANSIENT_DB_ERRORS as exc:
            # A database that does not answer is an outage, not this message's fault: hold
            # the message and wait, spending no retry. (Not in-process: the caller owns that
            # connection.)
            if not self.request.is_eager and wait_for_database(self.request.id, exc) > 0:
                continue
            # Celery's native delayed delivery routes by whole seconds and refuses a countdown
            # under 1 s: start one second later, keeping the jitter.
            countdown = 1.0 + retry_countdown(self.request.retries)
            logger.warning(
                "database error applying task_id=%s (%s); retry %d/%d in %.1fs",
                self.request.id,
                exc,
                self.request.retries + 1,
                settings.CATALOG_RETRY_MAX,
                countdown,
                extra=event_fields(task_id=self.request.id),
            )
            raise self.retry(exc=exc, countdown=countdown, max_retries=settings.CATALOG_RETRY_MAX) from exc

    log_applied(task_id=self.request.id, events=events, result=result)
    outcome: SyncOutcome = {"applied": result.applied, "stale": result.stale}
    if result.superseded:
        outcome["superseded"] = [list(pair) for pair in result.superseded]
    return outcome


def log_applied(*, task_id: str | None, events: Sequence[ProductEvent], result: ApplyResult) -> None:
    """One INFO line per message: a single event with its ids, a batch with its
    product_id:version pairs (truncated; one DEBUG line per event when DEBUG is on)."""
    if len(events) == 1:
        log_one_event(logger, "applied" if result.applied else "skipped stale", task_id, events[0])
    else:
        products = product_versions(events)
        logger.info(
            "batch of %d events task_id=%s: applied=%d stale=%d products=%s",
            len(events),
            task_id,
            result.applied,
            result.stale,
            products,
            extra={**event_fields(task_id=task_id), "events": len(events), "products": products},
        )
        log_each_event(logger, task_id, events)
