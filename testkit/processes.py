"""Processes of the system under test: one started process with its log, and ``manage.py`` runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from testkit.paths import REPO, SERVICE_DIRS


class Process:
    """One system process (a start script, say), its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        # Own session: stopping it stops the whole group (gunicorn/celery children too).
        self.popen = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit status."""
        return self.popen.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(10)
        self.signal_group(signal.SIGKILL)  # stragglers of the group, if any
        self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole group: nothing gets to clean up."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def run_manage(
    project: str, *args: str, env: dict[str, str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python manage.py <args>`` of ``project`` ("admin" or "catalog") with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SERVICE_DIRS[project],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )
