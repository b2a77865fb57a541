"""The benchmark's own databases, vhosts and processes, and their clean-up.

Built on the test toolkit (testkit/: its Stack, databases, brokers): the same
start scripts, the same database helpers. What differs is kept here: the processes run
with the system's own defaults (not the tests' smaller values) plus whatever the
bench was asked to override, and every database, vhost, broker and process the
bench creates is registered in one ``Resources`` so that ``close()`` removes it,
on success, on error and on Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from testkit.broker import Broker, ThrowawayBroker, rabbitmqctl
from testkit.paths import REPO
from testkit.postgres import create_database, drop_database, pg_url, query
from testkit.processes import Process
from testkit.stack import Stack
from testkit.users import STAFF_PASSWORD, STAFF_USER
from testkit.waiting import wait_until

# Values testkit's Stack sets for the tests (small pools, fast polling). The bench runs
# the system as `make run` does: the start scripts' and settings' own defaults,
# unless the caller sets the variable in its environment or with --env.
HARNESS_TEST_VALUES = ("CATALOG_WORKER_CONCURRENCY", "WEB_CONCURRENCY", "RELAY_POLL_INTERVAL")
# The variables the system reads that a benchmark may want to vary.
TUNABLES = (
    "RELAY_BATCH_SIZE",
    "RELAY_CLAIM_SIZE",
    "RELAY_LINGER",
    "RELAY_ROUND_INTERVAL",
    "RELAY_POLL_INTERVAL",
    "RELAY_PUBLISH_TIMEOUT",
    "CATALOG_WORKER_CONCURRENCY",
    "CATALOG_WORKER_PREFETCH",
    "WEB_CONCURRENCY",
)


@dataclass
class BenchStack(Stack):
    """A testkit Stack that runs the system's defaults, with the bench's overrides."""

    overrides: dict[str, str] = field(default_factory=dict)
    flavour: str = "production"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    sync_api_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        for key in HARNESS_TEST_VALUES:
            if os.environ.get(key):
                env[key] = os.environ[key]
            else:
                env.pop(key, None)
        env["DJANGO_SECRET_KEY"] = self.secret_key
        env["CATALOG_SYNC_API_TOKEN"] = self.sync_api_token  # production settings require it
        env.update(self.overrides)
        return env

    def settings_env(self, project: str) -> dict[str, str]:
        module = "admin_project" if project == "admin" else "catalog_project"
        return {"DJANGO_SETTINGS_MODULE": f"{module}.settings.{self.flavour}"}

    def start(self, script: str, *, env: dict[str, str] | None = None, suffix: str = "") -> Process:
        project = "admin" if script.startswith("admin") else "catalog"
        return super().start(script, env={**self.settings_env(project), **(env or {})}, suffix=suffix)

    def process_env(self, project: str) -> dict[str, str]:
        """The environment of a bench-side process in ``project``'s Django (e.g. the producer)."""
        return {**self.env, **self.settings_env(project)}


def wait_for_log(process: Process, text: str, *, timeout: float, what: str) -> float:
    """Wait until ``text`` appears in the process's log; return the time (epoch) it was seen."""

    def seen():
        if not process.alive():
            tail = "\n".join(process.log().splitlines()[-30:])
            raise RuntimeError(f"{process.name} exited ({process.popen.returncode}) before {what}:\n{tail}")
        return text in process.log()

    wait_until(seen, timeout=timeout, interval=0.01, what=what)
    return time.time()


def wait_worker_ready(process: Process, timeout: float = 90) -> float:
    return wait_for_log(process, " ready.", timeout=timeout, what="catalog worker ready")


def wait_relay_ready(process: Process, timeout: float = 60) -> float:
    return wait_for_log(process, "relay started", timeout=timeout, what="relay started")


def wait_web_ready(stack: Stack, timeout: float = 90) -> None:
    url = stack.url("admin", "/admin/login/")
    wait_until(
        lambda: requests.get(url, timeout=3).status_code == 200, timeout=timeout, interval=0.2, what="admin web answers"
    )


class Resources:
    """Everything the bench created, removed in reverse order by ``close()``."""

    def __init__(self, log_root: Path, flavour: str, overrides: dict[str, str]) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.log_root = log_root
        self.flavour = flavour
        self.overrides = overrides
        self.shared_broker = Broker(port=int(os.environ.get("TEST_RABBIT_PORT", "5672")))
        self._cleanups: list[tuple[str, object]] = []
        self.templates: tuple[str, str] | None = None

    # --- registration ---------------------------------------------------------------

    # Registered before being created: an interrupt in between leaves nothing behind
    # (dropping a database or vhost that was never made is harmless).

    def database(self, name: str, template: str | None = None) -> str:
        self._cleanups.append(("database", name))
        create_database(name, template=template)
        return name

    def vhost(self, broker: Broker, name: str) -> str:
        if broker.node is None:  # a throw-away broker is destroyed whole
            self._cleanups.append(("vhost", (broker, name)))
        broker.add_vhost(name)
        return name

    def throwaway_broker(self) -> ThrowawayBroker:
        broker = ThrowawayBroker()
        self._cleanups.append(("broker", broker))
        broker.start()
        return broker

    def popen(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen:
        """A bench-side process in its own session, its output in the run's log dir."""
        log = (self.log_root / f"{name}.log").open("ab")
        popen = None
        try:
            popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
            if popen is not None:
                self._cleanups.append(("popen", popen))
        return popen

    def stack(self, label: str, *, broker: Broker | None = None) -> BenchStack:
        admin_tpl, catalog_tpl = self.ensure_templates()
        suffix = f"{self.run_id}_{label}"
        log_dir = self.log_root / label
        log_dir.mkdir(parents=True, exist_ok=True)
        stack = BenchStack(
            name=suffix,
            broker=broker or self.shared_broker,
            admin_db=f"bench_admin_{suffix}",
            catalog_db=f"bench_catalog_{suffix}",
            vhost=f"bench-{self.run_id}-{label}",
            log_dir=log_dir,
            overrides=self.overrides,
            flavour=self.flavour,
        )
        self.database(stack.admin_db, template=admin_tpl)
        self.database(stack.catalog_db, template=catalog_tpl)
        self.vhost(stack.broker, stack.vhost)
        self._cleanups.append(("stack", stack))
        return stack

    # --- templates --------------------------------------------------------------------

    def ensure_templates(self) -> tuple[str, str]:
        """Both schemas migrated once, with the staff user; each stack copies them."""
        if self.templates is None:
            admin_tpl = self.database(f"bench_tpl_admin_{self.run_id}")
            catalog_tpl = self.database(f"bench_tpl_catalog_{self.run_id}")
            env = {
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "ADMIN_DATABASE_URL": pg_url(admin_tpl),
                "CATALOG_DATABASE_URL": pg_url(catalog_tpl),
                "DJANGO_DEBUG": "0",
                "DJANGO_SUPERUSER_USERNAME": STAFF_USER,
                "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
                "DJANGO_SUPERUSER_EMAIL": "staff@example.com",
            }
            script = "python manage.py migrate --noinput -v 0 && python manage.py createsuperuser --noinput"
            running = [
                subprocess.Popen(
                    ["bash", "-c", script],
                    cwd=REPO / project,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for project in ("admin_app", "catalog_worker")
            ]
            for popen in running:
                output, _ = popen.communicate(timeout=300)
                if popen.returncode:
                    raise RuntimeError(f"migrating a template failed:\n{output.decode(errors='replace')}")
            self.templates = (admin_tpl, catalog_tpl)
        return self.templates

    # --- clean-up ---------------------------------------------------------------------

    def close_stack(self, stack: Stack) -> None:
        """Stop a stack's processes early (its databases go at ``close()``)."""
        stack.stop_all()
        stack.processes.clear()

    def close(self) -> list[str]:
        """Remove everything, newest first; return the problems met (never raises)."""
        problems = []
        # Ctrl-C (or SIGTERM) again while cleaning up would leave databases and nodes behind.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self._cleanups:
                kind, thing = self._cleanups.pop()
                try:
                    self._remove(kind, thing)
                except Exception as exc:  # noqa: BLE001 - keep cleaning the rest
                    problems.append(f"{kind} {thing}: {exc!r}")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return problems

    @staticmethod
    def _remove(kind: str, thing) -> None:
        if kind == "popen":
            stop_popen(thing)
        elif kind == "stack":
            thing.stop_all()
        elif kind == "broker":
            stop_broker(thing)
        elif kind == "vhost":
            broker, name = thing
            broker.delete_vhost(name)
        elif kind == "database":
            drop_database(thing)


def stop_broker(broker: ThrowawayBroker) -> None:
    """Stop and remove a throw-away node, also one interrupted while it was still booting."""
    pid_file = broker.base / "mnesia" / f"{broker.node}.pid"
    pid = int(pid_file.read_text().strip() or 0) if pid_file.exists() else 0
    if not broker.is_listening():
        rabbitmqctl("stop", node=broker.node, check=False)
    broker.destroy()
    if pid:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.name() == "beam.smp":  # still our node's VM: it never finished booting
                process.kill()


def stale_resources() -> tuple[list[str], list[str]]:
    """Databases and vhosts of earlier bench runs that were killed before they could clean up."""
    dbs = [r[0] for r in query("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")]
    listed = subprocess.run(
        ["rabbitmqctl", "list_vhosts", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    ).stdout.split()
    return dbs, [v for v in listed if v.startswith("bench-")]


def drop_stale(dbs: list[str], vhosts: list[str], broker: Broker) -> None:
    for name in dbs:
        drop_database(name)
    for name in vhosts:
        broker.delete_vhost(name)


def stop_popen(popen: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process started in its own session, and whatever it started."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
