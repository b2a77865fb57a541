""".env.example declares every variable the code, the start scripts and compose read."""

import pytest

from tests.deploy.compose import (
    ENV_EXAMPLE,
    REPO,
    compose_text,
    compose_variables,
    declared_in_env_example,
    python_env_reads,
    shell_env_reads,
)

pytestmark = pytest.mark.timeout(60)


def python_sources() -> list:
    roots = [
        REPO / "admin_app",
        REPO / "catalog_worker",
        REPO / "sync_contract",
        REPO / "scripts",
        REPO / "docker" / "rabbitmq",
    ]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if "tests" not in path.relative_to(REPO).parts and "migrations" not in path.parts
    )


def shell_sources() -> list:
    start = sorted((REPO / "docker" / "start").iterdir())
    scripts = [path for path in sorted((REPO / "scripts").iterdir()) if path.suffix != ".py"]
    return [*start, *scripts]


def test_the_scan_finds_what_the_settings_read():
    # If these stop being found, the scan is broken, not the settings.
    python = python_env_reads(python_sources())
    assert {
        "ADMIN_DATABASE_URL",
        "CATALOG_DATABASE_URL",
        "CELERY_BROKER_URL",
        "DJANGO_SECRET_KEY",
        "RELAY_PUBLISH_TIMEOUT",
        "CATALOG_WORKER_PREFETCH",
        "BROKER_ADMIN_PASSWORD",
    } <= set(python)
    shell = shell_env_reads(shell_sources())
    assert {
        "FLOWER_BASIC_AUTH",
        "BIND_HOST",
        "CATALOG_WORKER_CONCURRENCY",
        "DJANGO_SETTINGS_MODULE",
        "WEB_CONCURRENCY",
        "DJANGO_SUPERUSER_USERNAME",
    } <= set(shell)


def test_every_variable_the_settings_and_scripts_read_is_in_env_example():
    declared = declared_in_env_example()
    read = python_env_reads(python_sources())
    for name, files in shell_env_reads(shell_sources()).items():
        read.setdefault(name, set()).update(files)
    missing = {name: sorted(files) for name, files in read.items() if name not in declared}
    assert missing == {}, f"add these to {ENV_EXAMPLE.name}"


def test_every_variable_compose_reads_is_in_env_example():
    missing = compose_variables(compose_text()) - declared_in_env_example()
    assert missing == set()


def test_env_example_sets_nothing_and_holds_no_secret():
    # Every line is a comment: the example documents defaults, it does not set them,
    # and copying it never turns a placeholder into a password.
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.strip()]
    assert all(line.lstrip().startswith("#") for line in lines)
