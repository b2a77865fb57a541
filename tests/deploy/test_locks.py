"""The dependency locks: what the image and `make venv` install, pinned with hashes."""

import re

import pytest

from tests.deploy.compose import REPO

pytestmark = pytest.mark.timeout(60)

DEV_TOOLS = {"honcho", "pytest", "pytest-timeout", "pytest-django", "playwright", "ruff", "uv", "pika", "requests"}


def locked(name: str) -> dict[str, str]:
    """{package: version} of a lock file; every entry must carry at least one sha256 hash."""
    text = (REPO / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    found = {}
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", entry)
        assert match, entry[:80]
        assert "--hash=sha256:" in entry, f"{name}: {match.group(1)} has no hash"
        found[match.group(1).lower()] = match.group(2)
    return found


def direct(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            package, _, version = line.partition("==")
            pins[package.lower().replace("_", "-")] = version
    return pins


def test_each_lock_pins_every_package_with_hashes_and_keeps_the_direct_pins():
    runtime, dev = locked("requirements.txt"), locked("requirements-dev.txt")
    assert direct("requirements.in").items() <= runtime.items()
    assert direct("requirements-dev.in").items() <= dev.items()
    # The dev lock holds the runtime at the same versions: tests run what the image runs.
    assert runtime.items() <= dev.items()
    # Development tools stay out of the runtime lock, so out of the image.
    assert DEV_TOOLS & set(runtime) == set()
    assert set(dev) >= DEV_TOOLS


def test_make_venv_and_the_image_install_from_the_locks_only():
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes --no-deps -r requirements-dev.txt" in makefile
    assert "requirements.in --output-file requirements.txt" in makefile
    assert "requirements-dev.in --constraint requirements.txt --output-file requirements-dev.txt" in makefile
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps --requirement requirements.txt" in dockerfile
