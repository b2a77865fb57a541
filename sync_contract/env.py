"""Reading settings from the environment, with readable start-up errors."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ImproperlyConfigured(f"{name} must be > 0, got {raw!r}")
    return value


def env_int(name: str, default: int) -> int:
    value = env_float(name, default)
    if value != int(value):
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}")
    return int(value)


def env_required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set (see .env.example)")
    return value


def database_from_env(name: str, default: str | None) -> dict:
    url = os.environ.get(name) or default
    if not url:
        raise ImproperlyConfigured(f"{name} must be set (see .env.example)")
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a database URL: {exc}") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must be a postgres:// URL")
    return config
