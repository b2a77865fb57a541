"""Real processes, databases and brokers for the system tests.

Nothing here is a fake: databases are created on the machine's PostgreSQL, each
test gets its own RabbitMQ vhost, processes are started with the same start
scripts that ``make run`` and compose use, and a test that stops a broker gets a
throw-away RabbitMQ node of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import psycopg2
import requests

REPO = Path(__file__).resolve().parents[2]
START = REPO / "docker" / "start"
ARTIFACTS = REPO / "test-artifacts"
PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
RABBIT_PORT = int(os.environ.get("TEST_RABBIT_PORT", "5672"))
STAFF_USER = "staff"
STAFF_PASSWORD = "system-test-" + uuid.uuid4().hex[:12]


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - a predicate may fail while a service starts
            value, last_error = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{what} not met within {timeout}s{detail}")
        time.sleep(interval)


def fresh_log_dir(kind: str, name: str) -> tuple[str, Path]:
    """A new random suffix and an empty ``test-artifacts/<kind>/<name>-<suffix>/`` for a stack's logs."""
    suffix = uuid.uuid4().hex[:8]
    log_dir = ARTIFACTS / kind / f"{name}-{suffix}"
    if log_dir.exists():
        shutil.rmtree(log_dir)
    log_dir.mkdir(parents=True)
    return suffix, log_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL ---------------------------------------------------------------------


def pg_url(dbname: str) -> str:
    return f"postgres://root@{PG_HOST}:{PG_PORT}/{dbname}"


def pg_connect(dbname: str, *, host: str = PG_HOST, port: int = PG_PORT):
    conn = psycopg2.connect(host=host, port=port, user="root", dbname=dbname, connect_timeout=5)
    conn.autocommit = True
    return conn


def create_database(name: str, template: str | None = None) -> None:
    query("postgres", f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop_database(name: str) -> None:
    query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(dbname: str, sql: str, params: Any = None, *, host: str = PG_HOST, port: int = PG_PORT) -> list[tuple]:
    conn = pg_connect(dbname, host=host, port=port)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# --- RabbitMQ -----------------------------------------------------------------------


def rabbitmqctl(*args: str, node: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=check)


@dataclass
class Broker:
    """A RabbitMQ node reachable on ``port``, addressed by ``node`` for rabbitmqctl."""

    port: int
    node: str | None = None  # None: the machine's shared node

    def add_vhost(self, name: str) -> None:
        rabbitmqctl("add_vhost", name, node=self.node)
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*", node=self.node)

    def delete_vhost(self, name: str) -> None:
        rabbitmqctl("delete_vhost", name, node=self.node, check=False)

    def url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def channel(self, vhost: str):
        params = pika.ConnectionParameters(
            host="127.0.0.1",
            port=self.port,
            virtual_host=vhost,
            credentials=pika.PlainCredentials("guest", "guest"),
            connection_attempts=1,
            socket_timeout=5,
        )
        connection = pika.BlockingConnection(params)
        return connection, connection.channel()

    def queue_depth(self, vhost: str, queue: str) -> int:
        connection, channel = self.channel(vhost)
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        finally:
            connection.close()

    def drain(self, vhost: str, queue: str) -> list[tuple[Any, bytes]]:
        """Take every message off ``queue`` (acked): (properties, body) pairs."""
        connection, channel = self.channel(vhost)
        taken = []
        try:
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return taken
                taken.append((properties, body))
        finally:
            connection.close()


class ThrowawayBroker(Broker):
    """A RabbitMQ node of the test's own: own name, ports and data dir; safe to stop and kill."""

    def __init__(self) -> None:
        port = free_port()
        super().__init__(port=port, node=f"systest{port}@localhost")
        self.base = Path(tempfile.mkdtemp(prefix="rabbit-", dir="/tmp"))
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n")
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        shutil.chown(self.base, "rabbitmq", "rabbitmq")
        for path in self.base.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
        }

    def start(self) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, timeout=30)
        wait_until(
            lambda: rabbitmqctl("await_startup", "--timeout", "5", node=self.node, check=False).returncode == 0,
            timeout=90,
            interval=0.5,
            what=f"broker {self.node} started",
        )

    def stop(self) -> None:
        rabbitmqctl("stop", node=self.node, check=False)
        wait_until(lambda: not self.is_listening(), timeout=60, what=f"broker {self.node} stopped")

    def is_listening(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def destroy(self) -> None:
        if self.is_listening():
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


# --- Processes ----------------------------------------------------------------------


class Process:
    """One system process started from its start script, its output kept in a log file."""

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


@dataclass
class Stack:
    """Two databases and a vhost of one test, and the processes started against them."""

    name: str
    broker: Broker
    admin_db: str
    catalog_db: str
    vhost: str
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    flower_auth: str = "flower:" + uuid.uuid4().hex[:16]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
        env.update(
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            ADMIN_DATABASE_URL=pg_url(self.admin_db),
            CATALOG_DATABASE_URL=pg_url(self.catalog_db),
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
        return env

    def port(self, what: str) -> int:
        if what not in self.ports:
            self.ports[what] = free_port()
        return self.ports[what]

    def url(self, what: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port(what)}{path}"

    def start(self, script: str, *, env: dict[str, str] | None = None, suffix: str = "") -> Process:
        process = Process(script + suffix, [str(START / script)], {**self.env, **(env or {})}, self.log_dir)
        self.processes.append(process)
        return process

    def manage(self, project: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
        cwd = REPO / ("admin_app" if project == "admin" else "catalog_worker")
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def admin_shell(self, code: str, timeout: float = 300) -> str:
        """Run Python in the admin's Django (e.g. the service layer), return its stdout."""
        return self.manage("admin", "shell", "--verbosity", "0", "-c", code, timeout=timeout).stdout

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # --- what the system holds ------------------------------------------------------

    def admin_state(self) -> dict[int, tuple]:
        rows = query(self.admin_db, "SELECT id, version, sku, title, price::text, is_active FROM products_product")
        return {r[0]: r[1:] for r in rows}

    def admin_deleted(self) -> dict[int, int]:
        rows = query(
            self.admin_db,
            "SELECT product_id, max(version) FROM products_outboxevent WHERE op = 'delete' GROUP BY product_id",
        )
        return dict(rows)

    def catalog_live(self) -> dict[int, tuple]:
        rows = query(
            self.catalog_db,
            "SELECT product_id, version, sku, title, price::text, is_active FROM catalog_catalogproduct"
            " WHERE NOT deleted",
        )
        return {r[0]: r[1:] for r in rows}

    def catalog_tombstones(self) -> dict[int, int]:
        return dict(query(self.catalog_db, "SELECT product_id, version FROM catalog_catalogproduct WHERE deleted"))

    def catalog_matches_admin(self) -> bool:
        return self.catalog_live() == self.admin_state() and self.catalog_tombstones() == self.admin_deleted()

    def pending_outbox(self) -> int:
        return query(self.admin_db, "SELECT count(*) FROM products_outboxevent WHERE published_at IS NULL")[0][0]

    def task_results(self) -> list[dict]:
        rows = query(self.catalog_db, "SELECT status, result FROM django_celery_results_taskresult")
        return [{"status": status, "result": json.loads(result) if result else None} for status, result in rows]

    # --- the admin API --------------------------------------------------------------

    def admin_api(self, *, basic_auth: bool = False) -> requests.Session:
        """A staff client of the admin API.

        By default it logs in once through the admin login page and then uses the
        session (with its CSRF token), as a browser does. HTTP Basic verifies the
        password hash on every request (PBKDF2, hundreds of ms here), so it is for
        occasional scripted calls, not for measuring the API.
        """
        session = requests.Session()
        if basic_auth:
            session.auth = (STAFF_USER, STAFF_PASSWORD)
            return session
        login_url = self.url("admin", "/admin/login/")
        session.get(login_url, timeout=10).raise_for_status()
        response = session.post(
            login_url,
            data={
                "username": STAFF_USER,
                "password": STAFF_PASSWORD,
                "next": "/admin/",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": login_url},
            timeout=10,
            allow_redirects=False,
        )
        if response.status_code != 302 or "sessionid" not in session.cookies:
            raise RuntimeError(f"admin login failed: {response.status_code}")
        session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": login_url})
        return session
