"""Reading docker-compose.yml, the Procfile, .env.example and the code's environment variables.

There is no Docker engine on this machine, so the compose file is checked by
parsing it: against the compose specification's JSON schema (vendored in
schema/, see schema/README.md) and by resolving it with Debian's docker-compose
(v1, ``docker-compose config``), which interpolates ``${VAR}`` as compose does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from testkit.paths import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
PROCFILE = REPO / "Procfile"
SCHEMA = Path(__file__).parent / "schema" / "compose-spec.json"
APP_IMAGE = "product-sync:latest"

# Every secret compose needs, with a test value. Passwords are URL-safe, as .env.example asks.
TEST_SECRETS = {
    "ADMIN_DJANGO_SECRET_KEY": "admin-test-secret-key-not-for-use",
    "CATALOG_DJANGO_SECRET_KEY": "catalog-test-secret-key-not-for-use",
    "CATALOG_SYNC_API_TOKEN": "sync-api-test-token",
    "ADMIN_DB_PASSWORD": "admin-db-test-pw",
    "CATALOG_DB_PASSWORD": "catalog-db-test-pw",
    "ADMIN_DB_SUPERUSER_PASSWORD": "admin-db-superuser-test-pw",
    "CATALOG_DB_SUPERUSER_PASSWORD": "catalog-db-superuser-test-pw",
    "BROKER_OPERATOR_PASSWORD": "operator-test-pw",
    "BROKER_ADMIN_PASSWORD": "product-admin-test-pw",
    "BROKER_CATALOG_PASSWORD": "catalog-test-pw",
    "BROKER_CATALOG_WEB_PASSWORD": "catalog-web-test-pw",
    "BROKER_FLOWER_PASSWORD": "flower-test-pw",
    "BROKER_ERLANG_COOKIE": "erlang-cookie-test",
    "FLOWER_BASIC_AUTH": "flower:flower-login-test-pw",
    "DJANGO_SUPERUSER_PASSWORD": "staff-test-pw",
}
# What .env needs on top for the cluster profile (docs/deployment.md, "Three brokers").
CLUSTER_SETTINGS = {
    "COMPOSE_PROFILES": "cluster",
    "BROKER_CLUSTER_SIZE": "3",
    "BROKER_NODE_2": "rabbitmq-2",
    "BROKER_NODE_3": "rabbitmq-3",
}


def compose_text() -> str:
    """The file without its comment lines (they mention ${VAR:?...} as prose)."""
    return "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))


def load_compose() -> dict[str, Any]:
    """The file as YAML (anchors and merge keys applied, nothing interpolated)."""
    return yaml.safe_load(compose_text())


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        raise RuntimeError("docker-compose is not installed: apt-get install docker-compose (Debian's compose v1)")
    return path


def resolve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``docker-compose config`` with ``env`` as the only .env and nothing from this shell.

    The repository's own .env (if a developer has one) and the caller's environment
    are kept out, so the result depends on ``env`` alone.
    """
    with tempfile.TemporaryDirectory(prefix="compose-env-") as tmp:
        env_file = Path(tmp) / "env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return subprocess.run(
            [docker_compose(), "--env-file", str(env_file), "--file", str(COMPOSE_FILE), *args, "config"],
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmp},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def resolved(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = resolve(env, *args)
    if result.returncode != 0:
        raise AssertionError(f"docker-compose config failed:\n{result.stderr}")
    return yaml.safe_load(result.stdout)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def app_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the product-sync image."""
    return {name: s for name, s in config["services"].items() if s.get("image") == APP_IMAGE}


# --- the Procfile and the start scripts ---------------------------------------------------


def procfile() -> dict[str, str]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


# --- environment variables -----------------------------------------------------------------

PY_ENV_PATTERNS = [
    r"os\.environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    r"os\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]",
    r"os\.environ\.setdefault\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    r"os\.getenv\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    r"\b(?:env_[a-z_]+|database_from_env|required|password)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    r"ServiceUser\(\s*[\"'][a-z_]+[\"']\s*,\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
]
# Shell variables the scripts read but nobody sets for them.
SHELL_BUILTINS = {"BASH_SOURCE", "SECONDS", "HOME", "PATH", "PWD", "RANDOM", "UID"}


def python_env_reads(paths: list[Path]) -> dict[str, set[str]]:
    """Environment variables read by literal name in these Python files: {name: {file, ...}}."""
    found: dict[str, set[str]] = {}
    for path in paths:
        text = path.read_text()
        for pattern in PY_ENV_PATTERNS:
            for name in re.findall(pattern, text):
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def shell_env_reads(paths: list[Path]) -> dict[str, set[str]]:
    """Upper-case variables a shell script reads from its environment: {name: {file, ...}}.

    A variable counts when the script expands it (${VAR...} or $VAR) before giving
    it a value of its own; one assigned first (PG_HOST=127.0.0.1) is the script's own.
    """
    found: dict[str, set[str]] = {}
    for path in paths:
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        first_assignment = {}
        for match in re.finditer(r"^[ \t]*(?:export[ \t]+)?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE):
            first_assignment.setdefault(match.group(1), match.start())
        for match in re.finditer(r"\$\{?([A-Z][A-Z0-9_]*)", text):
            name = match.group(1)
            if name in SHELL_BUILTINS:
                continue
            assigned_at = first_assignment.get(name)
            line_start = text.rfind("\n", 0, match.start()) + 1
            if assigned_at is None or match.start() < assigned_at or line_start == assigned_at:
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def compose_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))


def required_compose_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text))


def declared_in_env_example() -> set[str]:
    """Names .env.example declares: every NAME= it shows, commented out or not."""
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text()))


# --- .dockerignore ----------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    # Docker's rules: '*' and '?' stay within one path part, '**' spans any number of
    # parts; a pattern matching a directory also covers everything under it.
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}(?:/.*)?$")


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def in_build_context(relative: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether a file (path relative to the context root) is sent to the builder: the last matching rule wins."""
    included = True
    for negated, regex in rules:
        if regex.match(relative):
            included = negated
    return included


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())
