"""The two services share the contract and nothing else: the admin never imports worker code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: this test process may have imported anything.
PROBE = """
import json, sys
import django
django.setup()
{imports}
from sync_contract import TASK_SYNC_PRODUCTS
app = {app}
app.loader.import_default_modules()
print(json.dumps({{
    "modules": sorted(sys.modules),
    "registered": TASK_SYNC_PRODUCTS in app.tasks,
}}))
"""

ADMIN_IMPORTS = """
import admin_project
from admin_project.celery_app import app as admin_app
import sync.relay, sync.publisher, products.services, products.admin, products.api
from django.core.management import load_command_class
load_command_class("sync", "relay_outbox")
"""


def run_probe(service_dir: str, settings: str, imports: str, app: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings}
    env.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports, app=app)],
        cwd=REPO / service_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def worker_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in {"catalog", "catalog_project"}]


@pytest.mark.timeout(90)
def test_admin_celery_app_and_relay_import_no_worker_code() -> None:
    probe = run_probe("admin_app", "admin_project.settings.local", ADMIN_IMPORTS, "admin_app")

    assert worker_modules(probe["modules"]) == []
    assert "sync.relay" in probe["modules"]
    # The admin sends the task by name; it never registers the worker's task.
    assert probe["registered"] is False


@pytest.mark.timeout(90)
def test_the_probe_does_see_worker_code_where_it_is_imported() -> None:
    # Control: the same probe on the worker side finds its modules and its task,
    # so an empty list above means "not imported", not "not detected".
    probe = run_probe(
        "catalog_worker",
        "catalog_project.settings.local",
        "from catalog_project.celery_app import app as worker_app",
        "worker_app",
    )

    assert "catalog.tasks" in worker_modules(probe["modules"])
    assert probe["registered"] is True


@pytest.mark.timeout(60)
def test_the_contract_imports_neither_service() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, sync_contract, sync_contract.celery_settings, sync_contract.topology;"
            "print(json.dumps(sorted(sys.modules)))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    modules = json.loads(completed.stdout)
    roots = {m.split(".")[0] for m in modules}
    assert roots.isdisjoint({"catalog", "catalog_project", "products", "admin_project"})
