"""Set-up steps of docker/start/migrate that need a Django project's own settings.

Run from a project directory (admin_app/ or catalog_worker/) with
DJANGO_SETTINGS_MODULE naming that project's settings:

    python ../scripts/django_bootstrap.py database   # create DATABASES["default"] if missing
    python ../scripts/django_bootstrap.py superuser  # create the staff user if missing

The database step reads the database from the settings (ADMIN_DATABASE_URL or
CATALOG_DATABASE_URL and their defaults live there, not here) and creates it through
the server's maintenance database, so it works wherever the server is, in a
container too. With DATABASE_SUPERUSER_URL (compose's migrate) it connects as that
superuser instead and provisions the service's role (the user of its URL): it logs in,
owns the database and nothing more (no superuser, no CREATEDB/CREATEROLE), and no
other role may connect to that database (``provision_owner``). It waits up to
DB_WAIT_TIMEOUT seconds (default 30) for the server.

The superuser step follows ``createsuperuser --noinput``: DJANGO_SUPERUSER_USERNAME
(default "admin"), DJANGO_SUPERUSER_PASSWORD (required), DJANGO_SUPERUSER_EMAIL.
An existing user is left as it is. It prints "created" or "exists" on stdout, for
the calling script; its messages go to stderr. Neither step ever prints a password.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

import psycopg2
from psycopg2 import errors, sql
from psycopg2.extensions import connection as PgConnection

# Options Django's PostgreSQL backend understands but libpq does not.
DJANGO_ONLY_OPTIONS = {"isolation_level", "server_side_binding", "assume_role", "pool"}
MAINTENANCE_DATABASES = ("postgres", "template1")


def say(message: str) -> None:
    sys.stderr.write(f"{message}\n")


def _libpq_params(db: dict[str, Any]) -> dict[str, Any]:
    params = {
        key: value
        for key, value in {
            "host": db.get("HOST"),
            "port": db.get("PORT"),
            "user": db.get("USER"),
            "password": db.get("PASSWORD"),
        }.items()
        if value
    }
    params.update({k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in DJANGO_ONLY_OPTIONS})
    return params


def ensure_database(timeout: float) -> None:
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = db["NAME"]
    params = _libpq_params(db)
    where = f"{params.get('host', 'local socket')}:{params.get('port', 5432)}"
    superuser_url = os.environ.get("DATABASE_SUPERUSER_URL")
    if superuser_url:
        # The server's superuser creates the service's role and its database; the service never is one.
        import dj_database_url

        connection = _connect_maintenance(
            _libpq_params(dict(dj_database_url.parse(superuser_url))), where, time.monotonic() + timeout
        )
        try:
            provision_owner(connection, name, role=db.get("USER") or "", password=db.get("PASSWORD") or "")
        finally:
            connection.close()
        say(f'database "{name}" on {where}: owned by its role "{db.get("USER")}", which owns nothing else')
        return

    connection = _connect_maintenance(params, where, time.monotonic() + timeout)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                say(f'database "{name}" on {where}: exists')
                return
            try:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except errors.DuplicateDatabase:
                say(f'database "{name}" on {where}: exists (created concurrently)')
                return
            say(f'database "{name}" on {where}: created')
    finally:
        connection.close()


def provision_owner(connection: PgConnection, database: str, *, role: str, password: str) -> None:
    """As a superuser (autocommit): ``role`` logs in with ``password``, may create no database
    or role, and owns ``database``, which no other role but superusers may connect to.
    Safe to run again: the role's password and attributes are set each time."""
    if not role or not password:
        raise SystemExit("the service's database URL must name its user and password")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        current, is_super = cursor.fetchone() or (None, False)
        if not is_super or current == role:
            raise SystemExit(f'DATABASE_SUPERUSER_URL must name a superuser other than the service\'s role "{role}"')
        attributes = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}").format(
            sql.Literal(password)
        )
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        try:
            cursor.execute(sql.SQL(verb + " ROLE {} WITH ").format(sql.Identifier(role)) + attributes)
        except errors.DuplicateObject:  # created concurrently
            cursor.execute(sql.SQL("ALTER ROLE {} WITH ").format(sql.Identifier(role)) + attributes)
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if not cursor.fetchone():
            with contextlib.suppress(errors.DuplicateDatabase):  # created concurrently
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
                )
        cursor.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)))
        # Only its owner (and superusers) may connect: another service's role cannot even look.
        cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def _connect_maintenance(params: dict[str, Any], where: str, deadline: float) -> PgConnection:
    """Connect to the server's maintenance database, waiting for the server until the deadline."""
    while True:
        last_error = None
        for dbname in MAINTENANCE_DATABASES:
            try:
                connection: PgConnection = psycopg2.connect(dbname=dbname, connect_timeout=3, **params)
            except psycopg2.OperationalError as exc:
                last_error = exc
                continue
            # CREATE DATABASE cannot run inside a transaction.
            connection.autocommit = True
            return connection
        if time.monotonic() >= deadline:
            detail = str(last_error).strip().splitlines()[0] if last_error else "no answer"
            raise SystemExit(f"cannot connect to the PostgreSQL server at {where}: {detail}")
        time.sleep(1)


def ensure_superuser() -> None:
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import IntegrityError

    user_model = get_user_model()
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
    if not password:
        raise SystemExit("DJANGO_SUPERUSER_PASSWORD must be set")

    label = os.path.basename(os.getcwd())
    if user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
        say(f'staff user "{username}" in {label}: exists, left unchanged')
        sys.stdout.write("exists\n")
        return
    try:
        user_model.objects.create_superuser(username=username, email=email, password=password)
    except IntegrityError:
        say(f'staff user "{username}" in {label}: exists (created concurrently)')
        sys.stdout.write("exists\n")
        return
    say(f'staff user "{username}" in {label}: created')
    sys.stdout.write("created\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["database", "superuser"])
    args = parser.parse_args()

    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise SystemExit("DJANGO_SETTINGS_MODULE must be set")
    # The project's packages live in the directory this is run from.
    sys.path.insert(0, os.getcwd())

    if args.step == "database":
        ensure_database(float(os.environ.get("DB_WAIT_TIMEOUT") or 30))
    else:
        ensure_superuser()


if __name__ == "__main__":
    main()
