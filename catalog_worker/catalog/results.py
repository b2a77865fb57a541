"""The result backend: django-celery-results, one statement per stored state.

Two changes to django-celery-results' ``DatabaseBackend``:

* A state is stored with one ``INSERT … ON CONFLICT (task_id) DO UPDATE`` instead
  of the manager's ``get_or_create`` and ``save`` (a SELECT, a savepoint, an INSERT
  and a commit of their own). The row holds the same columns, encoded the same way.
* The task stores its SUCCESS row with the very statement that applies the batch
  (``catalog.sql.APPLY_SQL`` with ``success_row``), so one message
  costs one round trip and one commit (catalog rows, counters and result together)
  and the result says SUCCESS exactly when the change committed.
  The task is declared ``ignore_result`` (Celery then does not store success a
  second time) and ``store_errors_even_if_ignored`` (retries and failures are
  still stored by Celery, through ``_store_result`` below).

And it survives a short catalog database outage: Celery stores a task's state (RETRY,
FAILURE) after the task body, and a store that fails there dead-letters the message
although its retry was already published. django-celery-results retries only
InterfaceError; a refused or lost connection (OperationalError) is just as transient
(docs/decisions/0012-transient-db-errors.md).
"""

from __future__ import annotations

import contextlib
from typing import Any

from celery import Task, states
from celery.app.task import Context
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connection, connections
from django_celery_results.backends.database import DatabaseBackend

from catalog.sql import STORE_RESULT_SQL


class SyncResultBackend(DatabaseBackend):  # type: ignore[misc]  # celery-types has no django_celery_results.backends
    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, InterfaceError | OperationalError) or super().exception_safe_to_retry(exc):
            with contextlib.suppress(Exception):
                connection.close()  # the next attempt opens a fresh connection
            return True
        return False

    def result_row(
        self,
        task_id: str | None,
        result: Any,
        status: str,
        traceback: str | None = None,
        request: Context | None = None,
    ) -> dict[str, Any]:
        """The columns django-celery-results stores for this state, encoded as it encodes them."""
        content_type, content_encoding, encoded = self.encode_content(result)
        meta = {**self._get_meta_from_request(request), "children": self.current_task_children(request)}
        _, _, encoded_meta = self.encode_content(meta)
        return {
            "task_id": task_id,
            "status": status,
            "result": encoded,
            "traceback": traceback,
            "meta": encoded_meta,
            "content_encoding": content_encoding,
            "content_type": content_type,
            **self._get_extended_properties(request, traceback),
            "started": status == states.STARTED,
        }

    def _store_result(
        self,
        task_id: str,
        result: Any,
        status: str,
        traceback: str | None = None,
        request: Context | None = None,
        using: str | None = None,
    ) -> Any:
        row = self.result_row(task_id, result, status, traceback, request)
        with connections[using or "default"].cursor() as cursor:
            cursor.execute(STORE_RESULT_SQL, row)
        return row["result"]

    def success_row(self, request: Context) -> dict[str, Any]:
        """The running task's SUCCESS row, for ``APPLY_SQL`` (its result comes from the statement)."""
        return self.result_row(request.id, None, states.SUCCESS, request=request)


def task_success_row(task: Task[Any, Any]) -> dict[str, Any]:
    """The SUCCESS row of ``task``'s running request, from the service's result backend."""
    backend = task.backend
    if not isinstance(backend, SyncResultBackend):
        raise ImproperlyConfigured("CELERY_RESULT_BACKEND must be catalog.results:SyncResultBackend")
    return backend.success_row(task.request)
