"""Flower's settings: the catalog's Celery configuration and nothing secret.

Flower reads task events and sends inspect commands with its own broker user. It gets
no database URL (its task list comes from the events), no Django secret key (it signs
nothing with Django: a random key per process, never stored) and no sync API token.
"""

import secrets

from catalog_project.settings.base import *  # noqa: F403
from sync_contract.env import env_required

DEBUG = False
SECRET_KEY = secrets.token_urlsafe(50)
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
CATALOG_SYNC_API_TOKEN = ""
# No database: Django's dummy backend, which refuses any query.
DATABASES = {}
