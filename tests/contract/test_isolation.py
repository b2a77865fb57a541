"""The two services share the contract and nothing else: the admin never imports worker code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from testkit.paths import REPO, SERVICE_DIRS


def probe(*args: str, service: str | None = None) -> dict:
    """What a fresh interpreter (this test process may have imported anything) has loaded after
    ``python -m testkit.probe <args>``: in a service's directory with Django set up on its local
    settings, or at the repository root without Django."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    if service:
        env["DJANGO_SETTINGS_MODULE"] = f"{service}_project.settings.local"
        args = ("--django", *args)
    completed = subprocess.run(
        [sys.executable, "-m", "testkit.probe", *args],
        cwd=SERVICE_DIRS[service] if service else REPO,
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
    imports = ["admin_project", "admin_project.celery_app", "sync.relay", "sync.publisher", "products.services"]
    imports += ["products.admin", "products.api"]
    found = probe(
        *(arg for module in imports for arg in ("--import", module)),
        *("--command", "sync:relay_outbox", "--celery-app", "admin_project.celery_app:app"),
        service="admin",
    )

    assert worker_modules(found["modules"]) == []
    assert "sync.relay" in found["modules"]
    # The admin sends the task by name; it never registers the worker's task.
    assert found["registered"] is False


@pytest.mark.timeout(90)
def test_the_probe_does_see_worker_code_where_it_is_imported() -> None:
    # Control: the same probe on the worker side finds its modules and its task,
    # so an empty list above means "not imported", not "not detected".
    found = probe("--celery-app", "catalog_project.celery_app:app", service="catalog")

    assert "catalog.tasks" in worker_modules(found["modules"])
    assert found["registered"] is True


@pytest.mark.timeout(60)
def test_the_contract_imports_neither_service() -> None:
    found = probe(
        *("--import", "sync_contract", "--import", "sync_contract.celery_settings"),
        "--import",
        "sync_contract.topology",
    )

    roots = {m.split(".")[0] for m in found["modules"]}
    assert "sync_contract" in roots
    assert roots.isdisjoint({"catalog", "catalog_project", "products", "sync", "admin_project"})
