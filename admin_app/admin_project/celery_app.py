"""The admin's Celery app. It only sends (by task name, through the contract):
it never imports or autodiscovers worker tasks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "admin_project.settings.local")

app = Celery("admin_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
