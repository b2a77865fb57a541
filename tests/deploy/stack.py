"""The product-sync processes as docker-compose.yml runs them, on this machine.

Compose runs every process with its project's production settings, the one-shot
docker/start/migrate first (it creates and migrates both databases, collects static
files and creates the staff user), and each service with its own broker user. This
module does the same with tests.system.harness.Stack: same start scripts, same
settings modules, a broker URL per service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.system.harness import (
    ARTIFACTS,
    STAFF_PASSWORD,
    STAFF_USER,
    START,
    Broker,
    Stack,
    drop_database,
    query,
)

# What docker-compose.yml gives each process as DJANGO_SETTINGS_MODULE.
ADMIN_SETTINGS = "admin_project.settings.production"
CATALOG_SETTINGS = "catalog_project.settings.production"
SECRET_KEY = "deploy-test-" + uuid.uuid4().hex


def new_stack(broker: Broker, vhost: str, test_name: str) -> Stack:
    suffix = uuid.uuid4().hex[:8]
    log_dir = ARTIFACTS / "deploy" / f"{test_name}-{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    return Stack(
        name=suffix,
        broker=broker,
        admin_db=f"deploy_admin_{suffix}",
        catalog_db=f"deploy_catalog_{suffix}",
        vhost=vhost,
        log_dir=log_dir,
    )


def production(stack: Stack, settings: str, broker_url: str, **extra: str) -> dict[str, str]:
    """A process's environment as compose sets it: production settings, its own broker user."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_SECRET_KEY": SECRET_KEY,
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
            cwd=START.parents[1],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=180,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"docker/start/migrate failed ({result.returncode}):\n{log.read_text()[-3000:]}")
    return result


def drop_stack_databases(stack: Stack) -> None:
    drop_database(stack.admin_db)
    drop_database(stack.catalog_db)


# --- a stream of changes through the admin service layer -------------------------------

# Run inside the admin's Django (manage.py shell -c): creates, updates and deletes
# products through the service layer at a steady rate for a fixed time. Each call
# is one committed transaction (product + outbox event). The pause paces the
# stream; it waits for nothing.
PRODUCER = """
import random, time
from products.services import product_create, product_update, product_delete
rng = random.Random(seed)
live, sent, interval = [], 0, 1.0 / rate
started = time.monotonic()
next_at = started
while time.monotonic() - started < duration:
    roll = rng.random()
    if len(live) < 5 or roll < 0.35:
        live.append(product_create(data=dict(sku=prefix + "-" + str(sent), title="Product " + str(sent),
                                             price=str(sent % 500) + ".25")).pk)
    elif roll < 0.9:
        product_update(product_id=rng.choice(live), data=dict(title="edit " + str(sent),
                                                              price=str(rng.randint(1, 999)) + ".99"))
    else:
        product_delete(product_id=live.pop(rng.randrange(len(live))))
    sent += 1
    next_at += interval
    time.sleep(max(0.0, next_at - time.monotonic()))
print("sent", sent, flush=True)
"""


def start_producer(stack: Stack, *, prefix: str, rate: float, duration: float, seed: int = 7) -> subprocess.Popen:
    code = f"prefix, rate, duration, seed = {prefix!r}, {rate}, {duration}, {seed}\n" + PRODUCER
    log: Path = stack.log_dir / "producer.log"
    # The producer only writes to the admin database; local settings need no secret.
    env = {**stack.env, "DJANGO_SETTINGS_MODULE": "admin_project.settings.local"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=START.parents[1] / "admin_app",
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
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


def env_without(*prefixes: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
