"""DEBUG is on only with DJANGO_DEBUG=1, in both services' local settings (the default: off)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit.paths import SERVICE_DIRS

PRINT_DEBUG = "from django.conf import settings; print(settings.DEBUG)"


def settings_debug(project: str, value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SETTINGS_MODULE"] = f"{project}_project.settings.local"
    if value is not None:
        env["DJANGO_DEBUG"] = value
    done = subprocess.run(
        [sys.executable, "-c", PRINT_DEBUG],
        cwd=SERVICE_DIRS[project],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("project", ["admin", "catalog"])
def test_debug_is_on_only_with_django_debug_exactly_1(project: str) -> None:
    seen = {value: settings_debug(project, value) for value in (None, "", "0", "true", "yes", "on", "1")}
    assert seen == {
        None: "False",
        "": "False",
        "0": "False",
        "true": "False",
        "yes": "False",
        "on": "False",
        "1": "True",
    }


def test_a_value_other_than_0_or_1_is_named_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_contract.debug import check_debug_variable

    monkeypatch.setenv("DJANGO_DEBUG", "true")
    (warning,) = check_debug_variable()
    assert warning.id == "sync.W030"
    assert "DEBUG is off" in warning.msg
    for quiet in ("0", "1", ""):
        monkeypatch.setenv("DJANGO_DEBUG", quiet)
        assert check_debug_variable() == []
