"""Django settings both services share, for every environment.

``from sync_contract.django_settings import *`` in a service's base settings; the service
adds its own apps, database and API policy, and its names from ``per_service``.
"""

import os
from pathlib import Path
from typing import Any

from sync_contract.env import env_choice

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

# Each service's INSTALLED_APPS: its own apps first (their templates override the admin's), then these.
SHARED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Debug pages and error reports mask the password of every URL (broker, databases).
DEFAULT_EXCEPTION_REPORTER_FILTER = "sync_contract.debug.SecretsFilter"

# drf-spectacular (/api/schema/, /api/docs/): the docs page's assets come from the sidecar
# package, served by the service itself (no CDN). Each service adds TITLE and who may read.
SPECTACULAR_SETTINGS = {
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# text (the default): one readable line per record; json: one JSON object per line, with
# task_id, event_id, product_id and version as fields (sync_contract.logs.JsonFormatter).
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "sync_contract.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "INFO"},
}

__all__ = [name for name in dir() if name.isupper()]


def per_service(prefix: str, *, project: str, base_dir: Path) -> dict[str, Any]:
    """The settings that name one service: URL conf, WSGI application, static root, the
    session and CSRF cookie names, and the database cache.

    Both services may be served from one host (cookies ignore the port): each has its own
    cookie names, so logging in to one never logs the same browser out of the other. The
    throttles' counts must be shared by every web process of a service: Django's database
    cache, in the service's own table (a per-process cache would multiply each rate).
    """
    return {
        "ROOT_URLCONF": f"{project}.urls",
        "WSGI_APPLICATION": f"{project}.wsgi.application",
        "STATIC_ROOT": base_dir / "staticfiles",
        "SESSION_COOKIE_NAME": f"{prefix}_sessionid",
        "CSRF_COOKIE_NAME": f"{prefix}_csrftoken",
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": f"{prefix}_cache"}
        },
    }
