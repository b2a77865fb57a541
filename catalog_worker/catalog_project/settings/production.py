"""Production: every secret from the environment, no defaults, DEBUG off."""

import os

from catalog_project.settings.base import *  # noqa: F403
from sync_contract.env import database_from_env, env_required

DEBUG = False
SECRET_KEY = env_required("DJANGO_SECRET_KEY")
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
DATABASES = {"default": database_from_env("CATALOG_DATABASE_URL", None)}

SESSION_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES", "0") == "1"  # on when served over HTTPS
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Served over HTTPS (DJANGO_SECURE_COOKIES=1): browsers are told to stay on HTTPS (HSTS; one
# hour: short until HTTPS is known to work everywhere). TLS ends at the reverse proxy, which
# sets X-Forwarded-Proto (and must overwrite a client's own).
SECURE_HSTS_SECONDS = 3600 if SESSION_COOKIE_SECURE else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SESSION_COOKIE_SECURE else None
# Deliberately not done, so `check --deploy` is told to stay quiet about them:
# W008, SECURE_SSL_REDIRECT: the proxy redirects plain HTTP, not Django; the container's health
#   checks reach the app over plain HTTP on 127.0.0.1 (docker-compose.yml), which it would break.
# W005/W021, HSTS for subdomains and preloading: commitments about the whole domain, which this
#   service cannot know; the operator adds them at the proxy.
SILENCED_SYSTEM_CHECKS = ["security.W008", "security.W005", "security.W021"]
