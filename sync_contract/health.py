"""``/healthz`` (liveness) and ``/readyz`` (readiness) of both services.

``/healthz`` answers ``ok`` whenever the web process serves requests: a failing one means
restart the process. ``/readyz`` answers 200 only when what the service needs answers (its
database, the broker, for the admin also a relay heartbeat fresh enough); 503 names the
part that failed. No login, and nothing but ``ok`` or those names, so anyone may ask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from sync_contract.broker import queue_depth
from sync_contract.names import SYNC_QUEUE

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 1.5

# A check answers None when its part is ready, or a short reason when it is not.
ReadinessCheck = Callable[[], str | None]


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


def database_ready() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readyz: database unreachable: %s", exc)
        return "database unreachable"
    return None


def broker_ready() -> str | None:
    # A passive declare of the sync queue: the broker answers and the queue exists.
    if queue_depth(current_app, SYNC_QUEUE, timeout=BROKER_TIMEOUT) is None:
        return "broker unreachable"
    return None


def readyz_view(*checks: ReadinessCheck) -> Callable[[HttpRequest], HttpResponse]:
    """A view running every check: 200 ``ok``, or 503 with one line per failing part."""

    @never_cache
    @require_GET
    def readyz(request: HttpRequest) -> HttpResponse:
        failures = [reason for check in checks if (reason := check()) is not None]
        if failures:
            return HttpResponse("".join(f"{f}\n" for f in failures), status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")

    return readyz
