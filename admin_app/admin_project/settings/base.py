"""Settings shared by every environment of the admin service."""

import os
from pathlib import Path

from sync_contract.celery_settings import *  # noqa: F403  (the shared CELERY_* settings)
from sync_contract.django_settings import *  # noqa: F403  (middleware, templates, i18n, logging)
from sync_contract.django_settings import SHARED_APPS, SPECTACULAR_SETTINGS, per_service
from sync_contract.env import database_from_env, env_basic_auth, env_bool, env_float, env_int
from sync_contract.events import MAX_BATCH

BASE_DIR = Path(__file__).resolve().parent.parent.parent


# sync first: its templates add the broker banner to every admin page and the sync health link.
INSTALLED_APPS = ["sync", "products", *SHARED_APPS, "rest_framework.authtoken"]

DATABASES = {"default": database_from_env("ADMIN_DATABASE_URL", "postgres://127.0.0.1:5432/admin_app")}

# The password throttle's counts (products.auth) live in the database cache (a
# process-local cache fails the check products.E001).
globals().update(per_service("admin", project="admin_project", base_dir=BASE_DIR))

REST_FRAMEWORK = {
    # Basic first: an anonymous request then gets 401 with a WWW-Authenticate
    # challenge instead of 403 (each class only acts when its header is present).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "products.auth.ThrottledBasicAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Staff, and the model permission of the method (view for reads): products.permissions.
    "DEFAULT_PERMISSION_CLASSES": ["products.permissions.StaffModelPermissions"],
    # Password attempts (HTTP Basic, the token endpoint), counted before the hash runs.
    "DEFAULT_THROTTLE_RATES": {
        "password_address": os.environ.get("API_PASSWORD_RATE_PER_ADDRESS", "10/minute"),
        "password_user": os.environ.get("API_PASSWORD_RATE_PER_USER", "10/minute"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "products.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Product admin API",
    "DESCRIPTION": "Staff only: products and their sync state, imports, API tokens (docs/api.md).",
    # The schema and its page are for staff, like the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
}

# The largest body POST /api/products/import/ reads (bytes; above it: 413). Larger files
# go through manage.py import_products, which streams.
PRODUCT_IMPORT_MAX_BYTES = env_int("PRODUCT_IMPORT_MAX_BYTES", 20 * 1024 * 1024)

# --- Celery: the relay is the only sender -----------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# The admin stores no results; it only publishes.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True

# --- The relay (manage.py relay_outbox) --------------------------------------------
# Seconds a publish (including waiting for its confirm) may take before it counts as failed.
RELAY_PUBLISH_TIMEOUT = env_float("RELAY_PUBLISH_TIMEOUT", 5.0)
# Wake up this often even without a NOTIFY (a missed notification costs at most this).
RELAY_POLL_INTERVAL = env_float("RELAY_POLL_INTERVAL", 1.0)
# Events per message under backlog (at most the contract's MAX_BATCH), and rows claimed per
# transaction. A message costs about the same CPU whatever its size, so under backlog fewer,
# larger messages win (docs/decisions/0005-batch-size-and-linger.md).
RELAY_BATCH_SIZE = env_int("RELAY_BATCH_SIZE", 1000, maximum=MAX_BATCH)
RELAY_CLAIM_SIZE = env_int("RELAY_CLAIM_SIZE", 2000)
# Seconds the relay pauses after a round that found a burst (>= 100 events, not a full
# claim), so the burst's next commits travel together (sync.relay.BURST_EVENTS); 0: off.
RELAY_LINGER = env_float("RELAY_LINGER", 0.02, allow_zero=True)
# Seconds between the starts of two rounds that publish: edits committed meanwhile go out
# together, one message instead of one each (sync.relay); 0: every NOTIFY starts a round.
RELAY_ROUND_INTERVAL = env_float("RELAY_ROUND_INTERVAL", 0.05, allow_zero=True)
# While at least RELAY_BACKLOG_MESSAGES messages wait in the sync queue and it does not
# drain (the catalog is behind), rounds that publish start RELAY_BACKLOG_INTERVAL seconds
# apart: fewer, fuller messages, drained faster once it is back (sync.pacing); 0: off.
RELAY_BACKLOG_INTERVAL = env_float("RELAY_BACKLOG_INTERVAL", 0.5, allow_zero=True)
RELAY_BACKLOG_MESSAGES = env_int("RELAY_BACKLOG_MESSAGES", 20)
# Retry backoff after a failed publish: base * 2**attempts, capped, with equal jitter
# (half fixed, half random; sync.sql.MARK_FAILED_SQL).
RELAY_BACKOFF_BASE = env_float("RELAY_BACKOFF_BASE", 0.5)
RELAY_BACKOFF_MAX = env_float("RELAY_BACKOFF_MAX", 60.0)
# The cap instead, when the broker or the admin database could not be reached at all: a
# connection attempt costs little, and the relay publishes within this long of their return.
RELAY_RECONNECT_MAX = env_float("RELAY_RECONNECT_MAX", 2.0)
# Published outbox rows are deleted after this many hours.
OUTBOX_RETENTION_HOURS = env_float("OUTBOX_RETENTION_HOURS", 24.0)

# --- Operations: what staff see of the sync ------------------------------------------
# The catalog service's read API: which versions it holds ("applied"), its lag. Every
# call has this timeout (seconds); an unreachable catalog shows as "unknown", never a 500.
CATALOG_API_URL = os.environ.get("CATALOG_API_URL", "http://127.0.0.1:8001").rstrip("/")
CATALOG_API_TIMEOUT = env_float("CATALOG_API_TIMEOUT", 1.0)
# Sent as a bearer token to the catalog's /api/sync/* (its CATALOG_SYNC_API_TOKEN, the same value).
CATALOG_SYNC_API_TOKEN = os.environ.get("CATALOG_SYNC_API_TOKEN", "")
# The relay writes its status (for the broker banner) on every change of state and
# otherwise at most this often (seconds); a relay silent for RELAY_STATUS_STALE seconds
# counts as gone.
RELAY_STATUS_INTERVAL = env_float("RELAY_STATUS_INTERVAL", 5.0)
RELAY_STATUS_STALE = env_float("RELAY_STATUS_STALE", 60.0)
# The relay runs the drift check every this many seconds in a background thread (0: never),
# and repairs what it finds when the sync queue is idle (DRIFT_CHECK_REPAIR=0: report only).
DRIFT_CHECK_INTERVAL = env_float("DRIFT_CHECK_INTERVAL", 300.0, allow_zero=True)
DRIFT_CHECK_REPAIR = env_bool("DRIFT_CHECK_REPAIR", True)
# A difference whose event was published less than this many seconds ago is still on its way.
DRIFT_GRACE_SECONDS = env_float("DRIFT_GRACE_SECONDS", 120.0)
# /metrics: staff (session or HTTP Basic) or this user:password (for Prometheus); unset: staff only.
METRICS_BASIC_AUTH = env_basic_auth("METRICS_BASIC_AUTH")
# Staff password attempts at /metrics per client address, counted before the hash (sync_contract.metrics).
METRICS_PASSWORD_RATE = os.environ.get("METRICS_PASSWORD_RATE") or "10/minute"
