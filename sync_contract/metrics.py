"""The Prometheus endpoint both services serve at ``/metrics``, and its protection.

Values are read from each service's database when scraped (nothing is counted in
memory, so several gunicorn workers and restarts give one consistent answer).

Who may scrape, the same rule in both services:
- a logged-in staff user (the Django admin session), or
- HTTP Basic with a staff user's Django credentials, or
- HTTP Basic with ``METRICS_BASIC_AUTH`` (``user:password``), when set: a credential
  for Prometheus that is not a staff login and costs no password hashing per scrape.
Anyone else gets 401 with a ``WWW-Authenticate`` challenge.

A staff password costs a full PBKDF2 hash, so each such attempt is first counted per
client address in the service's shared cache (DRF's rate throttle, as the admin API's
HTTP Basic, docs/decisions/0018-import-and-api-auth.md): past
``METRICS_PASSWORD_RATE`` (default 10/minute) the answer is 429 with ``Retry-After``
and no hash runs. The scrape credential and a session are never counted.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from rest_framework.throttling import SimpleRateThrottle

REALM = "metrics"
DEFAULT_ATTEMPT_RATE = "10/minute"


class PasswordThrottle(SimpleRateThrottle):
    """Staff password attempts at /metrics per client address, in the default (shared) cache."""

    scope = "metrics_password"

    def get_rate(self) -> str:
        rate: str = getattr(settings, "METRICS_PASSWORD_RATE", None) or DEFAULT_ATTEMPT_RATE
        return rate

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TooManyAttempts(Exception):
    def __init__(self, wait: float | None) -> None:
        super().__init__(wait)
        self.wait = wait


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def may_scrape(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    credentials = _basic_credentials(request)
    if credentials is None:
        return False
    configured = getattr(settings, "METRICS_BASIC_AUTH", None)
    if configured is not None:
        same_user = hmac.compare_digest(credentials[0].encode(), configured[0].encode())
        same_password = hmac.compare_digest(credentials[1].encode(), configured[1].encode())
        if same_user and same_password:
            return True
    throttle = PasswordThrottle()
    if not throttle.allow_request(request, None):  # type: ignore[arg-type]  # no DRF view: a plain Django one
        raise TooManyAttempts(throttle.wait())
    from django.contrib.auth import authenticate

    staff = authenticate(request, username=credentials[0], password=credentials[1])
    return staff is not None and staff.is_active and staff.is_staff


def metrics_view(collectors: Callable[[], Iterable[Collector]]) -> Callable[[HttpRequest], HttpResponse]:
    """A view serving the text format of ``collectors()``, for staff and the scrape credential."""

    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        try:
            allowed = may_scrape(request)
        except TooManyAttempts as exc:
            response = HttpResponse("too many password attempts\n", status=429, content_type="text/plain")
            response["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
            return response
        if not allowed:
            response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = f'Basic realm="{REALM}"'
            return response
        registry = CollectorRegistry(auto_describe=False)
        for collector in collectors():
            registry.register(collector)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return view


class FunctionCollector:
    """Adapts a function returning metric families to prometheus_client's collector protocol."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()

    def describe(self) -> list[Metric]:
        return []
