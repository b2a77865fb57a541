"""DEBUG from the environment, and error reports that never show a password.

DEBUG is on only with ``DJANGO_DEBUG=1``: unset, ``0`` or anything else is off, and a
value other than ``0`` or ``1`` is named by the start-up check (``sync.W030``), so
``DJANGO_DEBUG=true`` is not silently taken for on or off.

Django's debug page and its error e-mails hide settings whose *names* look secret
(``PASSWORD``, ``SECRET_KEY``...), but not a password inside a URL: the broker URL
(``CELERY_BROKER_URL``) and, through the request's environment under ``runserver``, the
database URLs. ``SecretsFilter`` masks the password of every URL it shows.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core import checks
from django.views.debug import SafeExceptionReporterFilter

DEBUG_VARIABLE = "DJANGO_DEBUG"

# scheme://user:password@host -> the password part; several URLs may share one value (a;b).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s;]*:)(?P<password>[^@\s;]*)(?=@)", re.IGNORECASE)


def debug_from_env() -> bool:
    """True only when ``DJANGO_DEBUG`` is exactly ``1``."""
    return os.environ.get(DEBUG_VARIABLE, "").strip() == "1"


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(lambda m: m.group("head") + SafeExceptionReporterFilter.cleansed_substitute, text)


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter, which also masks the password of every URL in settings and the request's META."""

    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL", flags=re.I)

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return mask_url_passwords(cleansed) if isinstance(cleansed, str) else cleansed


def check_debug_variable(**kwargs: Any) -> list[checks.CheckMessage]:
    raw = os.environ.get(DEBUG_VARIABLE)
    if raw is None or raw.strip() in ("", "0", "1"):
        return []
    return [
        checks.Warning(
            f"{DEBUG_VARIABLE}={raw!r} is neither 1 nor 0: DEBUG is off",
            hint=f"Set {DEBUG_VARIABLE}=1 to turn it on (local settings only), 0 or nothing for off.",
            id="sync.W030",
        )
    ]
