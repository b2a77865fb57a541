"""Settings shared by every environment of the catalog service."""

import os
from datetime import timedelta
from pathlib import Path

from sync_contract.celery_settings import *  # noqa: F403  (the shared CELERY_* settings)
from sync_contract.django_settings import *  # noqa: F403  (middleware, templates, i18n, logging)
from sync_contract.django_settings import SHARED_APPS, SPECTACULAR_SETTINGS, per_service
from sync_contract.env import database_from_env, env_basic_auth, env_float, env_int

BASE_DIR = Path(__file__).resolve().parent.parent.parent


# catalog first: its templates link the dead-letter page from the admin's index.
INSTALLED_APPS = ["catalog", *SHARED_APPS, "django_celery_results"]

DATABASES = {"default": database_from_env("CATALOG_DATABASE_URL", "postgres://127.0.0.1:5432/catalog")}

# The API throttles' counts (catalog.api_access) and the /metrics password throttle live
# in the database cache every gunicorn worker shares.
globals().update(per_service("catalog", project="catalog_project", base_dir=BASE_DIR))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "catalog.api_access.ProductCursor",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
    # Per client address, counted in the database cache every web process shares (CACHES).
    "DEFAULT_THROTTLE_RATES": {
        "public": os.environ.get("CATALOG_PUBLIC_API_RATE") or "3000/min",
        "sync": os.environ.get("CATALOG_SYNC_API_RATE") or "12000/min",
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The schema is public like the read API; its docs page is for staff (catalog_project.urls).
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Catalog read API",
    "DESCRIPTION": "Public, read-only: live products, and the versions and lag the admin service asks for.",
}
# The admin service's bearer token for /api/sync/* (the same value in both services).
# Local settings fall back to a development-only token; production requires it.
CATALOG_SYNC_API_TOKEN = os.environ.get("CATALOG_SYNC_API_TOKEN", "")

# --- Celery: the worker side ---------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# django-celery-results, retrying a store that hits a lost database connection (bounded:
# ~1 minute) instead of failing a task whose work is done or whose retry is already queued.
CELERY_RESULT_BACKEND = "catalog.results:SyncResultBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 30
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 2000
CELERY_RESULT_EXTENDED = True  # keep task name and arguments beside the result, for staff
CELERY_RESULT_EXPIRES = timedelta(hours=env_float("CATALOG_RESULT_EXPIRES_HOURS", 24.0))
# Reject undecodable messages to the dead-letter queue instead of acking them away,
# and declare the dead-letter queue before consuming.
CELERY_WORKER_CONSUMER = "catalog.consumer:SyncConsumer"
# One message at a time per process: a killed worker hands back little, and a
# slow batch does not hold others hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CATALOG_WORKER_PREFETCH", 1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection around each task unless this is
# set, and a new PostgreSQL connection costs more than a task: connections are kept, and
# catalog.tasks checks them before each task instead.
CELERY_DB_REUSE_MAX = 1000

# Transient database errors: retry with exponential backoff and jitter, bounded.
CATALOG_RETRY_MAX = env_int("CATALOG_RETRY_MAX", 8)
CATALOG_RETRY_BACKOFF_BASE = env_float("CATALOG_RETRY_BACKOFF_BASE", 0.5)
CATALOG_RETRY_BACKOFF_MAX = env_float("CATALOG_RETRY_BACKOFF_MAX", 30.0)
# A database that does not answer spends no retry: the task holds its message and polls
# this often until it answers (catalog.db_wait; docs/decisions/0017-recovery.md); a refused
# connection costs little, and the worker resumes within this long of the database (0021).
CATALOG_DB_WAIT_INTERVAL = env_float("CATALOG_DB_WAIT_INTERVAL", 0.5)
# A lost broker is reconnected forever (Celery gives up after 100 attempts by default), at
# most this many seconds apart (Celery's own interval grows to 30 s): the worker is
# consuming again within this long after the broker is back (catalog.consumer).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CATALOG_BROKER_RECONNECT_MAX = env_float("CATALOG_BROKER_RECONNECT_MAX", 1.0)

# --- Operations -------------------------------------------------------------------------
# /metrics: staff (session or HTTP Basic) or this user:password (for Prometheus); unset: staff only.
METRICS_BASIC_AUTH = env_basic_auth("METRICS_BASIC_AUTH")
# Staff password attempts at /metrics per client address, counted before the hash (sync_contract.metrics).
METRICS_PASSWORD_RATE = os.environ.get("METRICS_PASSWORD_RATE") or "10/minute"
# The lag histogram of /metrics covers the products applied in the last this many minutes.
CATALOG_METRICS_LAG_MINUTES = env_int("CATALOG_METRICS_LAG_MINUTES", 5)
