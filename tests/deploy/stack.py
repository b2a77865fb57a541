"""The product-sync processes as docker-compose.yml runs them, on this machine.

Compose runs every process with its project's production settings, the one-shot
docker/start/migrate first (it creates and migrates both databases, collects static
files and creates the staff user), and each service with its own broker user. This
module does the same with testkit's Stack: same start scripts, same settings
modules, a broker URL per service.
"""

from __future__ import annotations

import subprocess
import uuid

from testkit.paths import REPO, START
from testkit.postgres import query
from testkit.processes import Process
from testkit.stack import Stack
from testkit.users import STAFF_PASSWORD, STAFF_USER

# What docker-compose.yml gives each process as DJANGO_SETTINGS_MODULE.
ADMIN_SETTINGS = "admin_project.settings.production"
CATALOG_SETTINGS = "catalog_project.settings.production"
SECRET_KEY = "deploy-test-" + uuid.uuid4().hex
SYNC_API_TOKEN = "deploy-test-token-" + uuid.uuid4().hex


def production(stack: Stack, settings: str, broker_url: str, **extra: str) -> dict[str, str]:
    """A process's environment as compose sets it: production settings, its own broker user."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "CATALOG_SYNC_API_TOKEN": SYNC_API_TOKEN,
        "CELERY_BROKER_URL": broker_url,
        **extra,
    }


def run_migrate(stack: Stack, broker_url: str) -> subprocess.CompletedProcess:
    """docker/start/migrate with production settings: creates both databases (they do not exist yet)."""
    env = {
        **stack.env,
        **production(stack, ADMIN_SETTINGS, broker_url),
        "DJANGO_SUPERUSER_USERNAME": STAFF_USER,
        "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
    }
    log = stack.log_dir / "migrate.log"
    with log.open("wb") as out:
        result = subprocess.run(
            [str(START / "migrate")],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=180,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"docker/start/migrate failed ({result.returncode}):\n{log.read_text()[-3000:]}")
    return result


def start_producer(stack: Stack, *, prefix: str, rate: float, duration: float, seed: int = 7) -> Process:
    """A stream of changes through the admin service layer (testkit.admin_actions stream), each its own
    transaction (product + outbox event), at ``rate`` per second for ``duration`` seconds."""
    # The producer only writes to the admin database; local settings need no secret.
    return stack.start_admin_action(
        "producer",
        *("stream", "--prefix", prefix, "--rate", str(rate), "--seconds", str(duration), "--seed", str(seed)),
        env={"DJANGO_SETTINGS_MODULE": "admin_project.settings.local"},
    )


# --- what the system holds ---------------------------------------------------------------
def committed_versions(stack: Stack) -> dict[int, int]:
    """Each product's newest committed version (deletes included), from the outbox."""
    return dict(query(stack.admin_db, "SELECT product_id, max(version) FROM products_outboxevent GROUP BY product_id"))


def committed_count(stack: Stack) -> int:
    return query(stack.admin_db, "SELECT count(*) FROM products_outboxevent")[0][0]


def catalog_versions(stack: Stack) -> dict[int, int]:
    """Each product's version in the catalog, tombstones included."""
    return dict(query(stack.catalog_db, "SELECT product_id, version FROM catalog_catalogproduct"))


def not_yet_applied(stack: Stack, committed: dict[int, int]) -> int:
    """How many of these committed changes the catalog does not reflect yet.

    A product at version v in the catalog reflects changes 1..v of it, so each
    change counts once, whichever batch or duplicate carried it.
    """
    held = catalog_versions(stack)
    return sum(max(0, version - held.get(product_id, 0)) for product_id, version in committed.items())
