"""Local development and tests: a fixed development key, DEBUG from the environment."""

import os

from admin_project.settings.base import *  # noqa: F403

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "local-development-only-not-a-secret"
