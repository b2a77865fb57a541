"""How API clients authenticate: tokens (cheap), and passwords throttled before they are hashed.

A password check costs a full PBKDF2 hash (most of a second of CPU). HTTP Basic and
the token endpoint therefore count every attempt per client address and per username
in the shared cache, and refuse with 429 (``Retry-After``) once a rate is spent, before
the hash runs: neither random headers nor guessing can take the CPU. Clients that call
often get a token once (``POST /api/auth/token/``) and send ``Authorization: Token <key>``
(docs/decisions/0018-import-and-api-auth.md). The token endpoint: products.token_api.

No DRF view is imported here: DRF's settings import this module while views load.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core import checks
from rest_framework.authentication import BasicAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

PASSWORD_SCOPES = ("password_address", "password_user")
# Caches that live inside one process: each gunicorn worker would count on its own.
PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


class _PasswordThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # Read on each use (DRF binds the rates at import), so a changed setting applies.
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        rate: str | None = rates[self.scope or ""]
        return rate


class PasswordAddressThrottle(_PasswordThrottle):
    """Password attempts per client address (DRF's ident: REMOTE_ADDR, or X-Forwarded-For with NUM_PROXIES)."""

    scope = "password_address"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PasswordUserThrottle(_PasswordThrottle):
    """Password attempts per username, from any address."""

    scope = "password_user"

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = hashlib.sha256(self.username.encode()).hexdigest()  # any text, a safe cache key
        return self.cache_format % {"scope": self.scope, "ident": ident}


def count_password_attempt(request: Request, username: str) -> None:
    """Count one password attempt; raise ``Throttled`` (429) if either rate is spent."""
    waits = [
        throttle.wait()
        for throttle in (PasswordAddressThrottle(), PasswordUserThrottle(username))
        if not throttle.allow_request(request, None)  # type: ignore[arg-type]  # no view: counted while authenticating
    ]
    if waits:
        raise Throttled(
            wait=max(wait or 0.0 for wait in waits),
            detail="Too many password attempts. Clients that call often use a token: POST /api/auth/token/.",
        )


class ThrottledBasicAuthentication(BasicAuthentication):
    """DRF's HTTP Basic, with the attempt counted (and maybe refused) before the password is hashed."""

    def authenticate_credentials(self, userid: str, password: str, request: Request | None = None) -> Any:
        if request is None:
            raise TypeError("ThrottledBasicAuthentication needs the request to throttle by address")
        count_password_attempt(request, userid)
        return super().authenticate_credentials(userid, password, request)


def check_throttle_settings(**_: Any) -> list[checks.CheckMessage]:
    """The password throttle needs a cache every worker process shares, and rates DRF can read."""
    errors: list[checks.CheckMessage] = []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PROCESS_LOCAL_CACHES:
        errors.append(
            checks.Error(
                f"CACHES['default'] is {backend}: each worker process would count password attempts on its own",
                hint="Use a cache all workers share, e.g. django.core.cache.backends.db.DatabaseCache "
                "(the admin's base settings).",
                id="products.E001",
            )
        )
    rates = api_settings.DEFAULT_THROTTLE_RATES or {}
    for scope in PASSWORD_SCOPES:
        rate = rates.get(scope)
        try:
            parsed = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]  # needs no instance
            valid = parsed != (None, None) and parsed[0] is not None and parsed[0] > 0
        except (ValueError, KeyError, AttributeError):
            valid = False
        if not valid:
            errors.append(
                checks.Error(
                    f"the throttle rate {scope!r} is {rate!r}, not '<count>/<second|minute|hour|day>'",
                    hint="Set API_PASSWORD_RATE_PER_ADDRESS / API_PASSWORD_RATE_PER_USER like '10/minute'.",
                    id="products.E002",
                )
            )
    return errors
