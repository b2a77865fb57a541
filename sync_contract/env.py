"""Reading settings from the environment, with readable start-up errors."""

import os

import dj_database_url
from dj_database_url import DBConfig
from django.core.exceptions import ImproperlyConfigured


def env_float(name: str, default: float, *, allow_zero: bool = False) -> float:
    """A positive number (or 0 where ``allow_zero``: settings where 0 means "off")."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise ImproperlyConfigured(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {raw!r}")
    return value


def env_bool(name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0, got {raw!r}")


def env_basic_auth(name: str) -> tuple[str, str] | None:
    """An optional ``user:password`` pair (unset or empty: None)."""
    raw = os.environ.get(name)
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise ImproperlyConfigured(f"{name} must have the form user:password")
    return user, password


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def env_int(name: str, default: int, *, maximum: int | None = None) -> int:
    value = env_float(name, default)
    if value != int(value):
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {int(value)}")
    return int(value)


def env_required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set (see .env.example)")
    return value


def database_from_env(name: str, default: str | None) -> DBConfig:
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
