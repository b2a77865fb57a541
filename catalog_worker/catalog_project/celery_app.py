"""The catalog's Celery app: runs ``catalog.sync_products`` from the contract's queue."""

import os

from celery import Celery

from catalog import json_codec

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catalog_project.settings.local")
json_codec.install()  # before any message is decoded, in the main process and (by fork) the pool's

app = Celery("catalog_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
