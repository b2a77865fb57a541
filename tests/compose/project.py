"""One run of docker-compose.yml: its own project name, .env, host ports and logs.

The project runs the repository's compose file unchanged, plus a generated test-only
override with two settings this machine needs: the app image's build step reaches the
package index over the host network (no NAT here), and every container asks
``dns.NoSuchNameResolver`` for names outside the compose network (no DNS server is
reachable here; see dns.py). Everything else that differs from a user's run is in the
generated ``.env``: random secrets, the stand-in images (PYTHON_IMAGE, POSTGRES_IMAGE,
RABBITMQ_IMAGE), the app image's tag and free host ports. Nothing from the caller's
shell or the repository's own ``.env`` reaches compose.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from testkit.paths import REPO, free_port
from testkit.waiting import wait_until
from tests.compose.engine import LOGS, BaseImages, docker

COMPOSE_FILE = REPO / "docker-compose.yml"
APP_IMAGE = "product-sync-test/app:latest"
STAFF_USER = "admin"  # compose's default DJANGO_SUPERUSER_USERNAME
ONE_SHOTS = ("rabbitmq-init", "migrate")
PROCESSES = ("admin-web", "admin-relay", "catalog-web", "catalog-worker", "catalog-beat", "flower")
# Secrets compose requires (.env.example, "compose: required"); URL-safe, as it asks.
SECRET_NAMES = (
    "ADMIN_DJANGO_SECRET_KEY",
    "CATALOG_DJANGO_SECRET_KEY",
    "CATALOG_SYNC_API_TOKEN",
    "DJANGO_SUPERUSER_PASSWORD",
    "ADMIN_DB_PASSWORD",
    "CATALOG_DB_PASSWORD",
    "ADMIN_DB_SUPERUSER_PASSWORD",
    "CATALOG_DB_SUPERUSER_PASSWORD",
    "BROKER_OPERATOR_PASSWORD",
    "BROKER_ADMIN_PASSWORD",
    "BROKER_CATALOG_PASSWORD",
    "BROKER_CATALOG_WEB_PASSWORD",
    "BROKER_FLOWER_PASSWORD",
    "BROKER_ERLANG_COOKIE",
)
CLUSTER = {
    "COMPOSE_PROFILES": "cluster",
    "BROKER_CLUSTER_SIZE": "3",
    "BROKER_NODE_2": "rabbitmq-2",
    "BROKER_NODE_3": "rabbitmq-3",
}


@dataclass
class Container:
    id: str
    service: str
    number: int
    status: str  # created, running, exited, ...
    health: str | None  # starting, healthy, unhealthy; None without a health check
    exit_code: int
    name: str

    @property
    def ready(self) -> bool:
        """Healthy, or (a one-shot) finished successfully, or running without a health check."""
        if self.service in ONE_SHOTS:
            return self.status == "exited" and self.exit_code == 0
        return self.status == "running" and self.health in (None, "healthy")


@dataclass
class ComposeProject:
    images: BaseImages
    dns: str
    cluster: bool = False
    name: str = field(default_factory=lambda: "pstest" + uuid.uuid4().hex[:8])
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.log_dir = LOGS / self.name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ports = {"admin": free_port(), "catalog": free_port(), "flower": free_port(), "management": free_port()}
        self.secrets = {name: secrets.token_urlsafe(24) for name in SECRET_NAMES}
        self.secrets["FLOWER_BASIC_AUTH"] = "flower:" + secrets.token_urlsafe(24)
        self.env = {
            **self.secrets,
            "PYTHON_IMAGE": self.images.python,
            "POSTGRES_IMAGE": self.images.postgres,
            "RABBITMQ_IMAGE": self.images.rabbitmq,
            "APP_IMAGE": APP_IMAGE,
            "ADMIN_HOST_PORT": str(self.ports["admin"]),
            "CATALOG_HOST_PORT": str(self.ports["catalog"]),
            "FLOWER_HOST_PORT": str(self.ports["flower"]),
            "BROKER_MANAGEMENT_HOST_PORT": str(self.ports["management"]),
            **(CLUSTER if self.cluster else {}),
            **self.env,
        }
        self.env_file = self.dir / ".env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.env_file.chmod(0o600)
        services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
        override = {"services": {name: {"dns": [self.dns]} for name in services}}
        override["services"]["migrate"]["build"] = {"network": "host"}  # the one service that is built
        self.override = self.dir / "test-override.yml"
        self.override.write_text(yaml.safe_dump(override))

    # --- credentials and addresses -----------------------------------------------------

    @property
    def staff(self) -> tuple[str, str]:
        return STAFF_USER, self.secrets["DJANGO_SUPERUSER_PASSWORD"]

    @property
    def flower_login(self) -> tuple[str, str]:
        user, _, password = self.secrets["FLOWER_BASIC_AUTH"].partition(":")
        return user, password

    @property
    def operator(self) -> tuple[str, str]:
        return "operator", self.secrets["BROKER_OPERATOR_PASSWORD"]

    def url(self, where: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[where]}{path}"

    # --- compose --------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        command = [
            "docker-compose",
            "--project-name",
            self.name,
            "--project-directory",
            str(REPO),
            "--env-file",
            str(self.env_file),
            "--file",
            str(COMPOSE_FILE),
            "--file",
            str(self.override),
            *args,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir)}
        if "DOCKER_HOST" in os.environ:
            env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        result = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        with (self.log_dir / "compose-commands.log").open("a") as log:
            log.write(f"$ docker-compose {' '.join(args)}  -> {result.returncode}\n{result.stderr[-4000:]}\n")
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker-compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result

    def build(self) -> float:
        """The app image, built by compose from docker/Dockerfile on the stand-in Python image."""
        started = time.monotonic()
        result = self.compose("build", "migrate", timeout=900)
        (self.log_dir / "build.log").write_text(result.stdout + result.stderr)
        return time.monotonic() - started

    def up(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.compose("up", "--detach", "--no-build", *args, timeout=timeout)

    def containers(self, service: str | None = None) -> list[Container]:
        filters = ["--filter", f"label=com.docker.compose.project={self.name}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        ids = docker("ps", "--all", "--quiet", "--no-trunc", *filters, timeout=30).stdout.split()
        if not ids:
            return []
        found = []
        for item in json.loads(docker("inspect", *ids, timeout=60).stdout):
            labels, state = item["Config"]["Labels"], item["State"]
            found.append(
                Container(
                    id=item["Id"],
                    service=labels["com.docker.compose.service"],
                    number=int(labels.get("com.docker.compose.container-number", "1")),
                    status=state["Status"],
                    health=(state.get("Health") or {}).get("Status"),
                    exit_code=state.get("ExitCode", 0),
                    name=item["Name"].lstrip("/"),
                )
            )
        return sorted(found, key=lambda c: (c.service, c.number))

    def container(self, service: str) -> Container:
        found = [c for c in self.containers(service) if c.status == "running"] or self.containers(service)
        assert len(found) == 1, f"{service}: {len(found)} containers"
        return found[0]

    def not_ready(self, services: set[str] | None = None) -> list[str]:
        """``service#n: status/health`` of every container that is not (yet) ready."""
        return [
            f"{c.service}#{c.number}: {c.status}/{c.health} exit {c.exit_code}"
            for c in self.containers()
            if (services is None or c.service in services) and not c.ready
        ]

    def wait_ready(self, *, timeout: float, services: set[str] | None = None) -> float:
        """Seconds until every container is healthy or completed; fails early when one has failed."""
        started = time.monotonic()

        def ready():
            containers = [c for c in self.containers() if services is None or c.service in services]
            failed = [
                c for c in containers if c.status == "exited" and (c.exit_code != 0 or c.service not in ONE_SHOTS)
            ]
            assert not failed, f"stopped: {[(c.name, c.exit_code) for c in failed]}; logs in {self.log_dir}"
            return containers and all(c.ready for c in containers)

        try:
            wait_until(ready, timeout=timeout, interval=1, what=f"{self.name}: every service healthy or completed")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; not ready: {self.not_ready(services)}") from None
        return time.monotonic() - started

    def exec(self, service: str, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.container(service).id, *command, timeout=timeout, check=check)

    def logs(self, service: str, *, since: str | None = None) -> str:
        args = ["logs", "--timestamps", *(["--since", since] if since else []), self.container(service).id]
        result = docker(*args, timeout=60, check=False)
        return result.stdout + result.stderr

    def seconds_until_log_line(self, service: str, moment: datetime, text: str) -> float | None:
        """Seconds from ``moment`` to the first line of the service's log containing ``text``."""
        for line in self.logs(service, since=moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).splitlines():
            stamp, _, message = line.partition(" ")
            if text in message:
                when = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")
                if when > moment:
                    return (when - moment).total_seconds()
        return None

    def save_logs(self, label: str) -> Path:
        path = self.log_dir / f"logs-{label}.txt"
        result = self.compose("logs", "--no-color", "--timestamps", timeout=120, check=False)
        path.write_text(result.stdout + result.stderr)
        return path

    # --- teardown -------------------------------------------------------------------------

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.name}"
        return {
            "containers": docker("ps", "--all", "--quiet", "--filter", label, timeout=30).stdout.split(),
            "networks": docker("network", "ls", "--quiet", "--filter", label, timeout=30).stdout.split(),
            "volumes": docker("volume", "ls", "--quiet", "--filter", label, timeout=30).stdout.split(),
        }

    def destroy(self) -> None:
        """Everything of this project goes: containers, networks, volumes (also after a failure)."""
        with contextlib.suppress(Exception):
            self.save_logs("final")
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=300, check=False)
        left = self.leftovers()
        if left["containers"]:
            docker("rm", "--force", "--volumes", *left["containers"], timeout=120, check=False)
        for network in left["networks"]:
            docker("network", "rm", network, timeout=60, check=False)
        if left["volumes"]:
            docker("volume", "rm", "--force", *left["volumes"], timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        remaining = self.leftovers()
        assert not any(remaining.values()), f"{self.name} left behind: {remaining}"
