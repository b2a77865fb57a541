"""Fixtures of the compose suite: the engine, the stand-in images, the app image, a stack."""

from __future__ import annotations

import time

import pytest

from tests.compose.dns import NoSuchNameResolver
from tests.compose.engine import base_images, docker, docker_engine, image_size
from tests.compose.project import APP_IMAGE, ComposeProject

# Figures of this run, printed at the end (README, "With Docker", takes them from here).
FIGURES: dict[str, str] = {}


def figure(name: str, value: str) -> None:
    FIGURES[name] = value
    print(f"\nfigure: {name}: {value}")


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("compose figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def engine():
    with docker_engine() as version:
        yield version


@pytest.fixture(scope="session")
def resolver(engine):
    """Answers the containers' lookups of unknown names at once, as a host's DNS server would."""
    server = NoSuchNameResolver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def images(engine, resolver):
    """The stand-in base images (cached in the engine) and the app image built by compose."""
    started = time.monotonic()
    built = base_images()
    figure(
        "stand-in base images",
        f"built in {built.built_seconds:.0f} s: {', '.join(built.built)}"
        if built.built
        else "all cached, nothing built",
    )
    previous = docker("image", "inspect", "--format", "{{.Id}}", APP_IMAGE, check=False).stdout.strip()
    builder = ComposeProject(built, resolver.address)
    try:
        seconds = builder.build()
    finally:
        builder.destroy()
    if previous and previous != docker("image", "inspect", "--format", "{{.Id}}", APP_IMAGE).stdout.strip():
        docker("image", "rm", previous, check=False)  # the app image of an earlier run, untagged now
    figure("app image", f"built by compose in {seconds:.0f} s, {image_size(APP_IMAGE) / 1e6:.0f} MB")
    figure("images ready after", f"{time.monotonic() - started:.0f} s")
    return built


@pytest.fixture(scope="module")
def stack(images, resolver):
    """The single-broker stack, up and ready, for the tests of one module; removed afterwards."""
    project = ComposeProject(images, resolver.address)
    try:
        started = time.monotonic()
        project.up()
        up_returned = time.monotonic() - started
        project.wait_ready(timeout=300)
        project.time_to_ready = time.monotonic() - started
        figure(
            "time to healthy (single broker)",
            f"{project.time_to_ready:.0f} s from `up -d` until every service is healthy or completed"
            f" (`up -d` itself returned after {up_returned:.0f} s)",
        )
        yield project
    finally:
        project.destroy()
