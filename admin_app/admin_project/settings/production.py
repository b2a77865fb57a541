"""Production: every secret from the environment, no defaults, DEBUG off."""

import os

from admin_project.settings.base import *  # noqa: F403
from sync_contract.env import database_from_env, env_required

DEBUG = False
SECRET_KEY = env_required("DJANGO_SECRET_KEY")
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
DATABASES = {"default": database_from_env("ADMIN_DATABASE_URL", None)}

SESSION_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES", "0") == "1"  # on when served over HTTPS
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
