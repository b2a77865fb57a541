"""The single-broker stack of docker-compose.yml, built and run for real.

Everything a user does goes through the published ports (127.0.0.1 only): the admin
API and both Django admins, the catalog API, Flower, RabbitMQ management. Faults are
what an operator can do to containers: docker kill, docker restart, --scale. The
tests share one stack and run in file order, each leaving it ready for the next.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sync_contract import DEAD_LETTER_QUEUE, SYNC_EXCHANGE, SYNC_QUEUE, SYNC_ROUTING_KEY
from testkit.waiting import wait_until
from tests.compose.clients import (
    CatalogWatcher,
    Stream,
    admin_login,
    admin_products,
    catalog_live,
    catalog_rows,
    logged_in_admin,
    management,
)
from tests.compose.conftest import figure
from tests.compose.engine import docker
from tests.compose.project import ONE_SHOTS, PROCESSES, ComposeProject

pytestmark = pytest.mark.timeout(600)

VHOST = "product_sync"


def queue_depth(stack: ComposeProject, queue: str) -> int:
    # Just after a broker restart the management API lists a queue before its counts.
    def counted() -> tuple[int] | None:
        info = management(stack, f"/api/queues/{VHOST}/{queue}").json()
        return (info["messages"],) if "messages" in info else None

    (depth,) = wait_until(counted, timeout=30, interval=0.5, what=f"{queue}'s message count")
    return depth


def flower_get(stack: ComposeProject, path: str, **kwargs) -> requests.Response:
    return requests.get(stack.url("flower", path), auth=stack.flower_login, timeout=30, **kwargs)


@pytest.mark.timeout(1500)  # the first test also builds the images and starts the stack
def test_every_service_is_healthy_or_completed(stack):
    containers = stack.containers()
    by_service = {c.service: c for c in containers}
    assert set(by_service) == {*ONE_SHOTS, *PROCESSES, "rabbitmq", "admin-db", "catalog-db"}
    for name in ONE_SHOTS:
        assert (by_service[name].status, by_service[name].exit_code) == ("exited", 0), name
    for container in containers:
        if container.service not in ONE_SHOTS:
            # Every long-running service has a health check, and it passes.
            assert (container.status, container.health) == ("running", "healthy"), container.name


def test_staff_logs_in_to_both_admins_and_flower_wants_its_login(stack):
    user, password = stack.staff
    for where in ("admin", "catalog"):
        session = admin_login(stack.url(where), user, password)
        assert logged_in_admin(stack.url(where), session), where
        with pytest.raises(PermissionError):
            admin_login(stack.url(where), user, password + "-wrong")
    assert requests.get(stack.url("flower", "/"), timeout=10).status_code == 401
    assert requests.get(stack.url("flower", "/api/workers"), auth=("flower", "wrong"), timeout=10).status_code == 401
    assert flower_get(stack, "/").status_code == 200

    def worker_seen():
        workers = flower_get(stack, "/api/workers", params={"refresh": 1}).json()
        return [name for name in workers if name.startswith("catalog@")]

    assert wait_until(worker_seen, timeout=60, interval=2, what="Flower lists the worker")


def test_products_created_edited_and_deleted_in_the_admin_api_reach_the_catalog(stack):
    session = admin_login(stack.url("admin"), *stack.staff)
    created = session.post(
        stack.url("admin", "/api/products/"),
        json={"sku": "DOCKER-1", "title": "From compose", "price": "12.50"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    def in_catalog():
        response = requests.get(stack.url("catalog", f"/api/products/{pid}/"), timeout=10)
        return response.json() if response.status_code == 200 else None

    product = wait_until(in_catalog, timeout=60, interval=0.2, what="the product in the catalog")
    assert (product["sku"], product["title"], product["price"], product["version"]) == (
        "DOCKER-1",
        "From compose",
        "12.50",
        1,
    )
    # The admin asks the catalog service by its compose name (CATALOG_API_URL) for the sync state.
    state = session.get(stack.url("admin", f"/api/products/{pid}/"), timeout=10).json()
    assert (state["sync_state"], state["catalog_version"]) == ("applied", 1)

    edited = session.patch(stack.url("admin", f"/api/products/{pid}/"), json={"title": "Edited"}, timeout=10)
    assert edited.status_code == 200, edited.text
    assert wait_until(
        lambda: (in_catalog() or {}).get("version") == 2, timeout=60, interval=0.2, what="the edit in the catalog"
    )
    assert in_catalog()["title"] == "Edited"

    assert session.delete(stack.url("admin", f"/api/products/{pid}/"), timeout=10).status_code == 204
    wait_until(
        lambda: requests.get(stack.url("catalog", f"/api/products/{pid}/"), timeout=10).status_code == 404,
        timeout=60,
        interval=0.2,
        what="the delete in the catalog",
    )
    assert catalog_rows(stack)[pid] == (3, True)  # a tombstone at the delete's version


def container_addresses(stack: ComposeProject) -> dict[str, str]:
    """IP address on the compose network -> service."""
    found = {}
    for container in stack.containers():
        if container.status == "running":
            item = json.loads(docker("inspect", container.id).stdout)[0]
            for network in item["NetworkSettings"]["Networks"].values():
                found[network["IPAddress"]] = container.service
    return found


def test_each_service_connects_to_the_broker_as_its_own_user_and_guest_is_refused(stack):
    addresses = container_addresses(stack)

    def users_by_service():
        connections = management(stack, "/api/connections").json()
        return {(addresses.get(c["peer_host"], c["peer_host"]), c["user"]) for c in connections}

    expected = {
        ("admin-relay", "product_admin"),
        ("catalog-worker", "catalog"),
        ("catalog-beat", "catalog"),
        ("flower", "flower"),
    }
    # Health checks connect for a moment too (as their service's user); wait for a quiet moment.
    seen = wait_until(
        lambda: users_by_service() if users_by_service() == expected else None,
        timeout=60,
        interval=1,
        what=f"broker connections exactly {sorted(expected)}",
    )
    counts = Counter(user for _service, user in seen)
    connections = Counter(c["user"] for c in management(stack, "/api/connections").json())
    figure("broker connections per user", ", ".join(f"{u} {n}" for u, n in sorted(connections.items())))
    assert set(counts) == {"product_admin", "catalog", "flower"}

    # guest does not exist: refused by the management API (and so by AMQP, same user database).
    assert management(stack, "/api/whoami", auth=("guest", "guest")).status_code == 401
    assert management(stack, "/api/users/guest").status_code == 404
    # Service users have no management tag: they cannot log in to the UI or API.
    assert (
        management(stack, "/api/whoami", auth=("catalog", stack.secrets["BROKER_CATALOG_PASSWORD"])).status_code == 401
    )
    assert management(stack, "/api/whoami").json()["name"] == "operator"


def prometheus_queue_metrics(stack: ComposeProject) -> dict[str, float]:
    """The broker's per-queue message counts as Prometheus scrapes them on the compose network."""
    url = f"http://rabbitmq:15692/metrics/detailed?vhost={VHOST}&family=queue_coarse_metrics"
    text = stack.exec(
        "admin-web",
        "python",
        "-c",
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())",
    ).stdout
    found = {}
    for line in text.splitlines():
        if line.startswith("rabbitmq_detailed_queue_messages{"):
            labels, value = line.rsplit(" ", 1)
            queue = labels.split('queue="', 1)[1].split('"', 1)[0]
            found[queue] = float(value)
    return found


def publish_poison(stack: ComposeProject, task_id: str) -> None:
    """A message the worker can never apply (not JSON): it goes to the dead-letter queue."""
    published = requests.post(
        stack.url("management", f"/api/exchanges/{VHOST}/{SYNC_EXCHANGE}/publish"),
        auth=stack.operator,
        timeout=10,
        json={
            "routing_key": SYNC_ROUTING_KEY,
            "payload": "not json",
            "payload_encoding": "string",
            "properties": {
                "content_type": "application/json",
                "delivery_mode": 2,
                "headers": {"task": "catalog.sync_products", "id": task_id},
            },
        },
    )
    assert published.json() == {"routed": True}


def purge_dead_letters(stack: ComposeProject) -> None:
    purged = requests.delete(
        stack.url("management", f"/api/queues/{VHOST}/{DEAD_LETTER_QUEUE}/contents"), auth=stack.operator, timeout=10
    )
    assert purged.status_code == 204


def test_queue_and_dead_letter_depth_reach_prometheus(stack):
    # The previous test's last change may still be unacknowledged, and the broker's figures are
    # collected every 5 s: at rest means both queues read 0 within a deadline.
    def at_rest() -> bool:
        metrics = prometheus_queue_metrics(stack)
        return (metrics[SYNC_QUEUE], metrics[DEAD_LETTER_QUEUE]) == (0.0, 0.0)

    wait_until(
        at_rest,
        timeout=30,
        interval=1,
        what="both queues at rest in Prometheus",
    )
    publish_poison(stack, "compose-poison-1")
    wait_until(
        lambda: prometheus_queue_metrics(stack).get(DEAD_LETTER_QUEUE) == 1.0,
        timeout=60,
        interval=1,
        what="the dead letter counted in Prometheus",
    )
    # The management API's figures lag (its statistics are collected every 5 s).
    wait_until(lambda: queue_depth(stack, DEAD_LETTER_QUEUE) == 1, timeout=30, interval=1, what="management sees it")
    purge_dead_letters(stack)
    wait_until(
        lambda: prometheus_queue_metrics(stack).get(DEAD_LETTER_QUEUE) == 0.0,
        timeout=60,
        interval=1,
        what="the purge counted in Prometheus",
    )


# --- faults while staff edit -----------------------------------------------------------------

RATE = 8.0  # changes a second through the admin API
DURATION = 20.0  # seconds of stream per fault


def stream_through(
    stack: ComposeProject,
    label: str,
    first: Callable[[], None],
    then: Callable[[], None] | None = None,
    duration: float = DURATION,
) -> dict:
    """Changes at RATE for ``duration``; ``first`` a third of the way in, ``then`` at two thirds.

    Afterwards every acknowledged change must reach the catalog, the catalog must equal the
    admin, and nothing may be dead-lettered. Returns the run's figures.
    """
    session = admin_login(stack.url("admin"), *stack.staff)
    total = int(RATE * duration)
    with CatalogWatcher(stack) as watcher:
        stream = Stream(stack, session, prefix=label, rate=RATE, duration=duration).start()
        wait_until(
            lambda: stream.acknowledged >= total // 3, timeout=duration * 2, interval=0.05, what="a third of the stream"
        )
        first()
        if then is not None:
            wait_until(
                lambda: stream.acknowledged >= 2 * total // 3,
                timeout=duration * 2,
                interval=0.05,
                what="two thirds of the stream",
            )
            then()
        repaired_at = time.monotonic()  # the last fault action returned (container started, broker back)
        stream.join()
        ended = time.monotonic()
        wait_until(
            lambda: stream.missing(catalog_rows(stack)) == 0,
            timeout=240,
            interval=0.5,
            what=f"{label}: every acknowledged change in the catalog",
        )
        caught_up = time.monotonic() - ended
        resumed = watcher.first_applied_after(stream, repaired_at)
    assert stream.refused == [], stream.refused[:5]
    admin = admin_products(stack, session)
    assert catalog_live(stack) == admin
    assert queue_depth(stack, DEAD_LETTER_QUEUE) == 0
    result = {
        "sent": stream.acknowledged,
        "lost": stream.missing(catalog_rows(stack)),
        "caught_up": caught_up,
        "applied_again": None if resumed is None else resumed - repaired_at,
    }
    after = sum(1 for when, _pid, _version in stream.commit_times if when > repaired_at)
    again = "-" if resumed is None else f"{result['applied_again']:.1f} s"
    figure(
        f"fault: {label}",
        f"{result['sent']} changes acknowledged, {result['lost']} lost; of the {after} "
        f"committed after the last fault action returned, the first was in the catalog {again} later; the "
        f"catalog equalled the admin {caught_up:.1f} s after the stream ended",
    )
    assert result["lost"] == 0
    return result


def test_worker_container_killed_mid_stream_loses_nothing(stack):
    worker = stack.container("catalog-worker")
    # docker kill is a stop by hand: Docker does not restart the container; the operator does.
    stream_through(
        stack, "worker-killed", lambda: docker("kill", worker.id), lambda: stack.compose("start", "catalog-worker")
    )
    assert stack.wait_ready(timeout=120) < 120


def test_relay_container_killed_mid_stream_loses_nothing(stack):
    relay = stack.container("admin-relay")
    stream_through(
        stack, "relay-killed", lambda: docker("kill", relay.id), lambda: stack.compose("start", "admin-relay")
    )
    assert stack.wait_ready(timeout=120) < 120


def test_broker_container_restarted_mid_stream_loses_nothing(stack):
    broker = stack.container("rabbitmq")
    restarted = []

    def restart():
        restarted.append(datetime.now(UTC))
        docker("restart", broker.id, timeout=180)  # stops within the service's stop_grace_period

    stream_through(stack, "broker-restarted", restart)
    # Every client reconnected by itself: all healthy again, nothing restarted by hand.
    assert stack.wait_ready(timeout=180) < 180
    # From the containers' logs: when the broker listened again, and when each client came back.
    # The listener starts before "Server startup complete", and a relay with its backlog can
    # publish in between, so the clients are timed from the listener.
    back = stack.seconds_until_log_line("rabbitmq", restarted[0], "started TCP listener")
    assert back is not None
    served_at = restarted[0] + timedelta(seconds=back)
    published = stack.seconds_until_log_line("admin-relay", served_at, " published ")
    consumed = stack.seconds_until_log_line("catalog-worker", served_at, "Connected to amqp://")
    figure(
        "broker restart, from the logs",
        f"the broker listened again {back:.1f} s after `docker restart` began (a clean stop, then a start); "
        f"then the relay published after {seconds_or_unseen(published)} "
        f"and the worker was connected again after {seconds_or_unseen(consumed)}",
    )


def seconds_or_unseen(seconds: float | None) -> str:
    return "(not in the logs)" if seconds is None else f"{seconds:.1f} s"


def test_scaled_to_three_workers_and_two_relays_mid_stream_loses_nothing_and_all_work(stack):
    # Only the scaled services (--no-deps): a plain `up` also starts the finished one-shots
    # again (harmless, they are repeatable) and the new containers wait for them.
    scale = (
        "--no-deps",
        "--no-recreate",
        "--scale",
        "catalog-worker=3",
        "--scale",
        "admin-relay=2",
        "catalog-worker",
        "admin-relay",
    )
    # A new worker takes ~10 s to consume (its self-check, then Celery): by two thirds of
    # the stream the new containers must be healthy, and the last third runs on all of them.
    stream_through(
        stack,
        "scaled-to-3-workers-2-relays",
        lambda: stack.up(*scale),
        lambda: stack.wait_ready(timeout=60, services={"catalog-worker", "admin-relay"}),
        duration=60.0,
    )
    workers = [c for c in stack.containers("catalog-worker") if c.status == "running"]
    assert len(workers) == 3
    assert len([c for c in stack.containers("admin-relay") if c.status == "running"]) == 2
    stack.wait_ready(timeout=120)
    tasks = flower_get(stack, "/api/tasks", params={"limit": 5000}).json()
    names = {task.get("worker") for task in tasks.values()}
    # Each worker took messages.
    for worker in workers:
        hostname = json.loads(docker("inspect", worker.id).stdout)[0]["Config"]["Hostname"]
        assert f"catalog@{hostname}" in names, hostname
    stack.up(
        "--no-deps",
        "--no-recreate",
        "--scale",
        "catalog-worker=1",
        "--scale",
        "admin-relay=1",
        "catalog-worker",
        "admin-relay",
    )
    assert len([c for c in stack.containers("catalog-worker") if c.status == "running"]) == 1
    assert len([c for c in stack.containers("admin-relay") if c.status == "running"]) == 1


def test_web_readiness_fails_while_its_database_is_down(stack):
    database = stack.container("catalog-db")
    docker("stop", database.id, timeout=60)
    try:
        response = requests.get(stack.url("catalog", "/readyz"), timeout=30)
        assert (response.status_code, response.text) == (503, "database unreachable\n")
        check = stack.exec("catalog-web", "docker/healthcheck", "http", "http://127.0.0.1:8001/readyz", check=False)
        assert check.returncode == 1, check.stdout
        assert requests.get(stack.url("catalog", "/healthz"), timeout=30).status_code == 200  # alive
        assert requests.get(stack.url("admin", "/readyz"), timeout=30).status_code == 200
    finally:
        docker("start", database.id, timeout=60)
    wait_until(
        lambda: requests.get(stack.url("catalog", "/readyz"), timeout=10).status_code == 200,
        timeout=60,
        interval=0.5,
        what="catalog /readyz again",
    )
    stack.wait_ready(timeout=120)


def test_down_and_up_keeps_products_staff_login_and_flower_history(stack):
    session = admin_login(stack.url("admin"), *stack.staff)
    products = admin_products(stack, session)
    assert products
    history = set(flower_get(stack, "/api/tasks", params={"limit": 100000}).json())
    assert history
    # A message parked in the dead-letter queue: the broker's data must survive too.
    publish_poison(stack, "compose-poison-2")
    wait_until(lambda: queue_depth(stack, DEAD_LETTER_QUEUE) == 1, timeout=60, interval=1, what="one dead letter")

    stack.save_logs("before-down")
    stack.compose("down", "--timeout", "30", timeout=300)
    assert stack.containers() == []
    started = time.monotonic()
    stack.up()
    ready = stack.wait_ready(timeout=300)
    figure("time to healthy after down and up (volumes kept)", f"{time.monotonic() - started:.0f} s")
    assert ready

    for where in ("admin", "catalog"):
        assert logged_in_admin(stack.url(where), admin_login(stack.url(where), *stack.staff)), where
    session = admin_login(stack.url("admin"), *stack.staff)
    assert admin_products(stack, session) == products
    assert catalog_live(stack) == products
    kept = set(flower_get(stack, "/api/tasks", params={"limit": 100000}).json())
    assert history <= kept, f"{len(history - kept)} of {len(history)} tasks missing from Flower"
    # Same node name, same data directory: the dead letter is still there.
    wait_until(
        lambda: queue_depth(stack, DEAD_LETTER_QUEUE) == 1,
        timeout=60,
        interval=1,
        what="the dead letter after down and up",
    )
    purge_dead_letters(stack)
