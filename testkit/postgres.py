"""PostgreSQL for the tests: the machine's shared server (or any other), its URLs and databases.

Every server here runs with trust authentication for ``root`` on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PgServer:
    """One PostgreSQL server, reached as ``root``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def url(self, dbname: str) -> str:
        return f"postgres://root@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        """An autocommit connection (CREATE DATABASE cannot run in a transaction)."""
        conn = psycopg2.connect(host=self.host, port=self.port, user="root", dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def query(self, dbname: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def answers(self) -> bool:
        try:
            self.connect().close()
        except psycopg2.Error:
            return False
        return True

    def create_database(self, name: str, template: str | None = None) -> None:
        self.query("postgres", f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop_database(self, name: str) -> None:
        self.query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def copy_database(self, source: PgServer, source_db: str, target_db: str) -> None:
        """Create ``target_db`` here as a copy of ``source_db`` on ``source`` (a migrated template)."""
        if (source.host, source.port) == (self.host, self.port):
            self.create_database(target_db, template=source_db)
            return
        self.create_database(target_db)
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", source.host, "-p", str(source.port), "-U", "root", "--no-owner", source_db],
            capture_output=True,
            timeout=120,
            check=True,
        )
        psql = [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port)]
        subprocess.run(
            [*psql, "-U", "root", "-d", target_db],
            input=dump.stdout,
            capture_output=True,
            timeout=120,
            check=True,
        )


SHARED_PG = PgServer(PG_HOST, PG_PORT)


def pg_url(dbname: str) -> str:
    return SHARED_PG.url(dbname)


def pg_connect(dbname: str) -> psycopg2.extensions.connection:
    return SHARED_PG.connect(dbname)


@contextmanager
def holding(dbname: str, sql: str, params: Any = None) -> Iterator[None]:
    """Run ``sql`` (a lock) in a transaction held open for the block, rolled back at its end:
    a task that needs what it locks waits inside its apply, its message unacked."""
    conn = pg_connect(dbname)
    conn.autocommit = False
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
        yield
    finally:
        conn.rollback()
        conn.close()


def query(dbname: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return SHARED_PG.query(dbname, sql, params)


def scalar(dbname: str, sql: str, params: Any = None) -> Any:
    return SHARED_PG.query(dbname, sql, params)[0][0]


def create_database(name: str, template: str | None = None) -> None:
    SHARED_PG.create_database(name, template)


def drop_database(name: str) -> None:
    SHARED_PG.drop_database(name)
