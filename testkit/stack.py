"""A stack: the two databases and the vhost of one test, and the system processes started
against them with the same start scripts that ``make run`` and compose use."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from testkit.broker import Broker, Vhost
from testkit.http import staff_session, wait_http
from testkit.paths import REPO, START, free_port
from testkit.postgres import SHARED_PG, PgServer
from testkit.processes import Process, run_manage
from testkit.state import SystemState

SERVICES = ("catalog-worker", "admin-relay", "admin-web", "catalog-web")
ADMIN_ACTIONS = [sys.executable, "-m", "testkit.admin_actions"]


@dataclass
class Stack(SystemState):
    """Two databases and a vhost of one test, and the processes started against them."""

    name: str
    broker: Broker
    admin_db: str
    catalog_db: str
    vhost: str
    log_dir: Path
    admin_pg: PgServer = SHARED_PG
    catalog_pg: PgServer = SHARED_PG
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    flower_auth: str = field(default_factory=lambda: "flower:" + uuid.uuid4().hex[:16])

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
        env.update(
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            ADMIN_DATABASE_URL=self.admin_pg.url(self.admin_db),
            CATALOG_DATABASE_URL=self.catalog_pg.url(self.catalog_db),
            CELERY_BROKER_URL=self.broker.url(self.vhost),
            DJANGO_DEBUG="0",
            BIND_HOST="127.0.0.1",
            ADMIN_PORT=str(self.port("admin")),
            CATALOG_PORT=str(self.port("catalog")),
            FLOWER_PORT=str(self.port("flower")),
            CATALOG_API_URL=self.url("catalog"),
            FLOWER_BASIC_AUTH=self.flower_auth,
            FLOWER_DB=str(self.log_dir / "flower.db"),
            CELERY_BEAT_SCHEDULE_FILE=str(self.log_dir / "beat-schedule"),
            CATALOG_WORKER_CONCURRENCY="2",
            WEB_CONCURRENCY="2",
            RELAY_POLL_INTERVAL="0.5",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def queues(self) -> Vhost:
        return self.broker.vhost(self.vhost)

    def port(self, what: str) -> int:
        if what not in self.ports:
            self.ports[what] = free_port()
        return self.ports[what]

    def url(self, what: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port(what)}{path}"

    def q(self, side: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        if side == "admin":
            return self.admin_pg.query(self.admin_db, sql, params)
        return self.catalog_pg.query(self.catalog_db, sql, params)

    # --- processes ---------------------------------------------------------------------

    def start(self, script: str, *, env: dict[str, str] | None = None, suffix: str = "") -> Process:
        return self.add(Process(script + suffix, [str(START / script)], {**self.env, **(env or {})}, self.log_dir))

    def add(self, process: Process) -> Process:
        """Keep ``process`` with the stack's (stopped with them, its log shown if the test fails)."""
        self.processes.append(process)
        return process

    def start_services(self, *names: str, env: dict[str, str] | None = None) -> None:
        """Start the services (by default all four) and wait until the web ones answer."""
        names = names or SERVICES
        for name in names:
            self.start(name, env=env)
        if "admin-web" in names:
            wait_http(self.url("admin", "/admin/login/"))
        if "catalog-web" in names:
            wait_http(self.url("catalog", "/api/products/"))

    def manage(
        self, project: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return run_manage(project, *args, env={**self.env, **(env or {})}, timeout=timeout)

    def admin_action(self, *args: str, timeout: float = 300) -> str:
        """Run ``python -m testkit.admin_actions <args>`` in the admin's Django; its stdout."""
        done = subprocess.run(
            [*ADMIN_ACTIONS, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"admin action {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout.strip()

    def edit_products(self, prefix: str, count: int, *, updates: int = 0, deletes: int = 0) -> list[int]:
        """Create ``count`` products through the service layer, update the first ``updates``, delete
        the last ``deletes`` (``testkit.admin_actions edit``); the ids created."""
        out = self.admin_action(
            "edit", "--prefix", prefix, "--count", str(count), "--updates", str(updates), "--deletes", str(deletes)
        )
        return [int(pid) for pid in out.split(",")]

    def start_admin_action(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        """The same in the background, as a stack process (a load generator, say)."""
        return self.add(Process(name, [*ADMIN_ACTIONS, *args], {**self.env, **(env or {})}, self.log_dir))

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def admin_api(self, *, basic_auth: bool = False) -> requests.Session:
        """A staff client of this stack's admin web (see ``testkit.http.staff_session``)."""
        return staff_session(self.url("admin"), basic_auth=basic_auth)
