"""Production settings both services share: every secret from the environment, DEBUG off.

``from sync_contract.django_production import *`` in a service's production settings,
after its base settings.
"""

import os

from sync_contract.env import env_required

DEBUG = False
SECRET_KEY = env_required("DJANGO_SECRET_KEY")
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
# The admin service's credential for the catalog's /api/sync/* (sent by one, checked by the other).
CATALOG_SYNC_API_TOKEN = env_required("CATALOG_SYNC_API_TOKEN")

SESSION_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES", "0") == "1"  # on when served over HTTPS
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# HSTS for an hour while HTTPS is new. TLS ends at the reverse proxy, which sets
# X-Forwarded-Proto (and must overwrite a client's own).
SECURE_HSTS_SECONDS = 3600 if SESSION_COOKIE_SECURE else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SESSION_COOKIE_SECURE else None
# Not done here, so `check --deploy` stays quiet about them: W008, SECURE_SSL_REDIRECT (the
# proxy redirects; health checks reach the app over plain HTTP); W005/W021, HSTS subdomains
# and preload (commitments about the whole domain, for the operator at the proxy).
SILENCED_SYSTEM_CHECKS = ["security.W008", "security.W005", "security.W021"]

__all__ = [name for name in dir() if name.isupper()]
