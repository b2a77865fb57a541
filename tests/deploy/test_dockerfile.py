"""docker/Dockerfile and .dockerignore, checked without building (no Docker engine here).

What is checked: the stages, the user, the absence of a default command; that every
COPY source exists and is inside the build context .dockerignore leaves; that what
the processes need at run time is in it and that .env, the virtualenv, git history
and tests are not.
"""

import re
import subprocess

import pytest

from tests.deploy.compose import REPO, dockerignore_rules, in_build_context, load_compose

pytestmark = pytest.mark.timeout(60)

DOCKERFILE = REPO / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return [path for path in listed.splitlines() if (REPO / path).is_file()]


def test_two_stages_and_the_runtime_runs_as_an_unprivileged_user_without_default_command():
    builder, runtime = stages()
    assert builder[0][1].endswith(" AS builder")
    assert runtime[0][1].endswith(" AS runtime")
    args = dict(arg.split("=", 1) for keyword, arg in instructions() if keyword == "ARG" and "=" in arg)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11[.\d]*-slim-\w+", base), base  # the machine's Python; a pinned tag
    # Installed from the lock only: every package pinned, every file checked against its hashes.
    assert any(
        k == "RUN" and "pip install --require-hashes --no-deps --requirement requirements.txt" in a for k, a in builder
    )
    assert any(k == "RUN" and "pip install --no-deps ." in a for k, a in builder)
    # The runtime takes the virtualenv, not pip's caches or build files.
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    assert not any(k == "RUN" and "pip install" in a for k, a in runtime)
    users = [a for k, a in runtime if k == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert not [k for k, _ in instructions() if k in ("CMD", "ENTRYPOINT")]
    # No secret is baked in: no ENV/ARG names a password, key or cookie.
    for keyword, arg in instructions():
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"PASSWORD|SECRET|COOKIE|BASIC_AUTH", arg), arg


def test_static_files_are_collected_at_build_time_without_secrets():
    runs = " ".join(a for k, a in stages()[1] if k == "RUN")
    for project in ("admin_project", "catalog_project"):
        assert f"DJANGO_SETTINGS_MODULE={project}.settings.local python manage.py collectstatic" in runs
    assert "chown -R app:app /app/admin_app/staticfiles /app/catalog_worker/staticfiles /app/var" in runs


def test_every_copy_source_is_in_the_build_context():
    rules = dockerignore_rules(REPO / ".dockerignore")
    files = repository_files()
    for keyword, arg in instructions():
        if keyword != "COPY" or arg.startswith("--from"):
            continue
        *sources, _destination = [part for part in arg.split() if not part.startswith("--")]
        for source in sources:
            source = source.rstrip("/")
            sent = [f for f in files if (f == source or f.startswith(source + "/")) and in_build_context(f, rules)]
            assert sent, f"COPY {source}: nothing of it is in the build context"


def test_the_context_holds_what_runs_and_nothing_private():
    rules = dockerignore_rules(REPO / ".dockerignore")
    files = repository_files()
    needed = [
        f
        for f in files
        if f.split("/")[0] in ("admin_app", "catalog_worker", "sync_contract", "scripts")
        or f.startswith("docker/start/")
    ]
    needed = [f for f in needed if "/tests/" not in f and "__pycache__" not in f]
    assert needed
    assert [f for f in needed if not in_build_context(f, rules)] == []
    for private in (
        ".env",
        ".env.example",
        ".git/config",
        ".venv/bin/python",
        "tests/system/test_sync_flow.py",
        "testkit/stack.py",
        "admin_app/products/tests/conftest.py",
        "catalog_worker/catalog/tests/test_tasks.py",
        "test-artifacts/x.log",
        "var/flower_basic_auth",
        "admin_app/staticfiles/admin/css/base.css",
        "docker-compose.yml",
        "bench/run.py",
    ):
        assert not in_build_context(private, rules), private
    for needed_file in (
        "requirements.txt",
        "pyproject.toml",
        "docker/rabbitmq/provision.py",
        "docker/healthcheck",
        "docker/start/admin-web",
        "admin_app/manage.py",
    ):
        assert in_build_context(needed_file, rules), needed_file


def test_compose_builds_this_dockerfile_from_the_repository_root():
    app = {name: s for name, s in load_compose()["services"].items() if "build" in s}
    assert app
    assert all(
        s["build"]
        == {
            "context": ".",
            "dockerfile": "docker/Dockerfile",
            "args": {"PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim-bookworm}"},
        }
        for s in app.values()
    )
