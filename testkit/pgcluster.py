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

from testkit.paths import free_port
from testkit.postgres import PG_BIN, PgServer
from testkit.waiting import wait_until


def _as_postgres(*argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=timeout, check=check
    )


class ThrowawayPostgres(PgServer):
    def __init__(self) -> None:
        super().__init__("127.0.0.1", free_port())
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

    def start(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        wait_until(self.answers, timeout=60, interval=0.2, what=f"throw-away PostgreSQL :{self.port} answers")

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", timeout=30, check=False).returncode
            == 0
        )

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
