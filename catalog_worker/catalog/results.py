"""The result backend: django-celery-results, surviving a short catalog database outage.

Celery stores a task's state (RETRY, SUCCESS, FAILURE) after the task body. When the
catalog database is down at that moment, the store raised, Celery counted the task
as failed "outside its body" and the message was rejected to the dead-letter queue,
although its retry had already been published (tests/reliability, catalog PostgreSQL
restarted: 16 good messages dead-lettered). django-celery-results retries only
InterfaceError; a refused or lost connection (OperationalError) is just as transient.
"""

from __future__ import annotations

import contextlib

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends.database import DatabaseBackend


class SyncResultBackend(DatabaseBackend):
    def exception_safe_to_retry(self, exc) -> bool:
        if isinstance(exc, InterfaceError | OperationalError) or super().exception_safe_to_retry(exc):
            with contextlib.suppress(Exception):
                connection.close()  # the next attempt opens a fresh connection
            return True
        return False
