"""Each service's database role, as compose's migrate creates it, on the machine's PostgreSQL.

scripts/django_bootstrap.py (``database`` with DATABASE_SUPERUSER_URL, what docker/start/migrate
runs in compose) is run for both services on throw-away roles and databases; each role then
migrates its own database, and is shown to be refused another service's database, creating a
database or a role, and superuser powers. Everything is dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import errors, sql

from testkit.paths import REPO

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

SERVER = "postgres://127.0.0.1:5432"
BOOTSTRAP = REPO / "scripts" / "django_bootstrap.py"
PROJECTS = {
    "admin": ("admin_app", "admin_project", "ADMIN_DATABASE_URL"),
    "catalog": ("catalog_worker", "catalog_project", "CATALOG_DATABASE_URL"),
}


def as_superuser(statement: sql.Composable | str) -> None:
    connection = psycopg2.connect(f"{SERVER}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture
def services() -> Iterator[dict[str, dict[str, str]]]:
    """For each service a throw-away role, password and database (dropped at the end)."""
    tag = secrets.token_hex(4)
    made = {
        name: {"role": f"roles_{name}_{tag}", "password": secrets.token_urlsafe(16), "database": f"roles_{name}_{tag}"}
        for name in PROJECTS
    }
    yield made
    for service in made.values():
        as_superuser(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(service["database"])))
        as_superuser(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(service["role"])))


def service_url(service: dict[str, str]) -> str:
    return f"postgres://{service['role']}:{service['password']}@127.0.0.1:5432/{service['database']}"


def run(name: str, service: dict[str, str], *args: str, superuser_url: str | None) -> subprocess.CompletedProcess[str]:
    folder, project, variable = PROJECTS[name]
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")},
        "DJANGO_SETTINGS_MODULE": f"{project}.settings.local",
        variable: service_url(service),
    }
    if superuser_url:
        env["DATABASE_SUPERUSER_URL"] = superuser_url
    return subprocess.run(
        [sys.executable, *args], cwd=REPO / folder, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def connect(service: dict[str, str], database: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host="127.0.0.1", port=5432, user=service["role"], password=service["password"], dbname=database
    )


def test_each_service_role_owns_its_database_and_nothing_more(services):
    for name, service in services.items():
        for _ in range(2):  # safe to run again
            done = run(name, service, str(BOOTSTRAP), "database", superuser_url=f"{SERVER}/postgres")
            assert done.returncode == 0, done.stderr
        assert "which owns nothing else" in done.stderr
        # The role itself migrates its database: it owns the tables.
        migrated = run(name, service, "manage.py", "migrate", "--noinput", superuser_url=None)
        assert migrated.returncode == 0, migrated.stderr[-2000:]

    admin, catalog = services["admin"], services["catalog"]
    with connect(admin, admin["database"]) as own, own.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False, False)
        cursor.execute("SELECT count(*) FROM products_product")
        cursor.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cursor.fetchone() == (admin["role"],)
    own.close()

    # No role may even connect to the other service's database.
    for role, other in ((admin, catalog), (catalog, admin)):
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            connect(role, other["database"])
    for statement in ("CREATE DATABASE roles_not_allowed", "CREATE ROLE roles_not_allowed"):
        connection = connect(catalog, catalog["database"])
        connection.autocommit = True
        try:
            with pytest.raises(errors.InsufficientPrivilege), connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()
    # A superuser URL naming the service's own role is refused, not used to demote it.
    again = run("catalog", catalog, str(BOOTSTRAP), "database", superuser_url=service_url(catalog))
    assert again.returncode != 0
    assert "must name a superuser other than" in again.stderr
