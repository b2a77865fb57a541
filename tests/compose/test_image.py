"""The app image docker/Dockerfile builds (by compose, on the stand-in Python image)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.compose.conftest import figure
from tests.compose.engine import docker, image_size
from tests.compose.project import APP_IMAGE
from tests.deploy.test_locks import DEV_TOOLS, locked

pytestmark = pytest.mark.timeout(900)


def run(*command: str, entrypoint: str | None = None) -> str:
    args = ["run", "--rm", "--network", "none", *(["--entrypoint", entrypoint] if entrypoint else []), APP_IMAGE]
    return docker(*args, *command, timeout=120).stdout


def test_the_image_holds_the_locked_runtime_and_no_development_tool(images):
    # Names as the lock writes them (PEP 503: lower case, '-' for runs of '-', '_' and '.').
    installed = {
        re.sub(r"[-_.]+", "-", item["name"]).lower(): item["version"]
        for item in json.loads(run("-m", "pip", "list", "--format", "json", entrypoint="python"))
    }
    runtime = locked("requirements.txt")
    # Every locked package that applies on Linux, at its locked version (the lock marks the
    # Windows-only ones, e.g. tzdata and colorama, with sys_platform == 'win32').
    lock_text = (Path(__file__).parents[2] / "requirements.txt").read_text()
    windows_only = {
        name.lower() for name in re.findall(r"^([A-Za-z0-9._-]+)==\S+ ; sys_platform == 'win32'", lock_text, re.M)
    }
    for name, version in runtime.items():
        if name not in windows_only:
            assert installed.get(name) == version, name
    extra = set(installed) - set(runtime) - {"product-sync", "pip", "setuptools"}
    assert extra == set()
    assert DEV_TOOLS & set(installed) == set()
    size = image_size(APP_IMAGE)
    figure(
        "app image size",
        f"{size / 1e6:.0f} MB on the stand-in Python image "
        f"(of which the base {image_size(images.python) / 1e6:.0f} MB)",
    )


def test_it_runs_as_an_unprivileged_user_who_can_write_only_its_state(images):
    out = run(
        "sh",
        "-c",
        "id -u; id -g; "
        "for d in /app/var/flower /app/var/celery /app/admin_app/staticfiles /app/catalog_worker/staticfiles; "
        "do touch $d/.w && echo writable $d; done; "
        "touch /app/admin_app/manage.py 2>/dev/null || echo read-only code; "
        "touch /opt/venv/x 2>/dev/null || echo read-only venv",
    )
    lines = out.split()
    assert lines[:2] == ["10001", "10001"]
    for path in ("/app/var/flower", "/app/var/celery", "/app/admin_app/staticfiles", "/app/catalog_worker/staticfiles"):
        assert f"writable {path}" in out, path
    assert "read-only code" in out
    assert "read-only venv" in out
