"""A throw-away PostgreSQL cluster of the test's own: safe to stop, restart and kill.

``initdb`` refuses to run as root, so the cluster belongs to the ``postgres`` user and
every ``pg_ctl`` call runs as that user. It listens on 127.0.0.1 only, on a free port,
with its socket in its own directory under /tmp, trust authentication and a ``root``
superuser, like the machine's shared cluster the other tests use.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from tests.system.harness import PG_HOST, PG_PORT, free_port, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=timeout, check=True
    )


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        shutil.chown(self.base, "postgres", "postgres")
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "root", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.base}'\nfsync = off\nmax_connections = 100\n"
            )

    def url(self, dbname: str) -> str:
        return f"postgres://root@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="root", dbname=dbname, connect_timeout=3)
        conn.autocommit = True
        return conn

    def answers(self) -> bool:
        try:
            self.connect().close()
            return True
        except psycopg2.Error:
            return False

    def start(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        wait_until(self.answers, timeout=60, interval=0.2, what=f"throw-away PostgreSQL :{self.port} answers")

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0

    def copy_database(self, source_db: str, target_db: str) -> None:
        """Create ``target_db`` here as a copy of ``source_db`` on the shared server (a migrated template)."""
        conn = self.connect()  # autocommit: CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{target_db}"')
        finally:
            conn.close()
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", PG_HOST, "-p", str(PG_PORT), "-U", "root", "--no-owner", source_db],
            capture_output=True,
            timeout=120,
            check=True,
        )
        subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "root",
                "-d",
                target_db,
            ],
            input=dump.stdout,
            capture_output=True,
            timeout=120,
            check=True,
        )

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
