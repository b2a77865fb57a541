"""Local development and tests: a fixed development key, DEBUG on only with DJANGO_DEBUG=1."""

import os

from admin_project.settings.base import *  # noqa: F403
from sync_contract.debug import debug_from_env

DEBUG = debug_from_env()
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "local-development-only-not-a-secret"
# The admin service's token for the catalog's /api/sync/* (both services' local settings agree).
CATALOG_SYNC_API_TOKEN = os.environ.get("CATALOG_SYNC_API_TOKEN") or "local-development-only-sync-token"
