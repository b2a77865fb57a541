"""Production: every secret from the environment, no defaults, DEBUG off."""

from catalog_project.settings.base import *  # noqa: F403
from sync_contract.django_production import *  # noqa: F403
from sync_contract.env import database_from_env

DATABASES = {"default": database_from_env("CATALOG_DATABASE_URL", None)}
