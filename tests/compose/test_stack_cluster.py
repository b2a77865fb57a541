"""The `cluster` profile of docker-compose.yml, run for real: three broker containers.

The stack starts with the four lines docs/deployment.md ("Three brokers") gives for .env; then staff
edit through the admin API while the container of the node that leads the quorum
queue is killed (docker kill: SIGKILL, no goodbye to the cluster or the clients).
Every client lists the three nodes in its broker URL and fails over by itself.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from testkit.waiting import wait_until
from tests.compose.clients import (
    CatalogWatcher,
    Stream,
    admin_login,
    admin_products,
    catalog_live,
    catalog_rows,
    management,
)
from tests.compose.conftest import figure
from tests.compose.engine import docker
from tests.compose.project import ComposeProject

pytestmark = pytest.mark.timeout(900)

VHOST = "product_sync"
NODES = {"rabbit@rabbitmq": "rabbitmq", "rabbit@rabbitmq-2": "rabbitmq-2", "rabbit@rabbitmq-3": "rabbitmq-3"}
RATE = 8.0  # changes a second through the admin API
DURATION = 30.0  # seconds of stream; the kill comes a third of the way in


@pytest.fixture(scope="module")
def cluster(images, resolver):
    project = ComposeProject(images, resolver.address, cluster=True)
    try:
        started = time.monotonic()
        project.up()
        project.wait_ready(timeout=420)
        figure(
            "time to healthy (cluster profile)",
            f"{time.monotonic() - started:.0f} s from `up -d` until every service is healthy or completed",
        )
        yield project
    finally:
        project.destroy()


def queues_on(stack: ComposeProject, service: str) -> dict[str, int]:
    """Queue depths as a surviving node reports them (rabbitmqctl in its container)."""
    out = stack.exec(
        service, "rabbitmqctl", "list_queues", "-q", "-p", VHOST, "name", "messages", "--formatter", "json"
    ).stdout
    return {row["name"]: row["messages"] for row in json.loads(out)}


def quorum_roles(stack: ComposeProject, service: str) -> dict[str, str]:
    out = stack.exec(
        service, "rabbitmq-queues", "quorum_status", "-q", SYNC_QUEUE, "--vhost", VHOST, "--formatter", "json"
    ).stdout
    return {row["Node Name"]: row["Raft State"] for row in json.loads(out)}


def test_three_broker_containers_form_one_cluster_with_a_replica_of_the_queue_on_each(cluster):
    running = sorted(node["name"] for node in management(cluster, "/api/nodes").json() if node["running"])
    assert running == sorted(NODES)
    queue = management(cluster, f"/api/queues/{VHOST}/{SYNC_QUEUE}").json()
    assert queue["type"] == "quorum"
    assert sorted(queue["members"]) == sorted(NODES)
    assert sorted(quorum_roles(cluster, "rabbitmq-2")) == sorted(NODES)


def test_killing_the_queue_leaders_container_mid_stream_loses_no_change(cluster):
    leader = management(cluster, f"/api/queues/{VHOST}/{SYNC_QUEUE}").json()["leader"]
    victim = cluster.container(NODES[leader])
    survivor = next(service for node, service in NODES.items() if node != leader)
    session = admin_login(cluster.url("admin"), *cluster.staff)
    total = int(RATE * DURATION)

    with CatalogWatcher(cluster) as watcher:
        stream = Stream(cluster, session, prefix="leader-killed", rate=RATE, duration=DURATION).start()
        wait_until(
            lambda: stream.acknowledged >= total // 3, timeout=DURATION * 2, interval=0.05, what="a third of the stream"
        )
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        docker("kill", victim.id)
        stream.join()
        ended = time.monotonic()
        wait_until(
            lambda: stream.missing(catalog_rows(cluster)) == 0,
            timeout=240,
            interval=0.5,
            what="every acknowledged change in the catalog",
        )
        caught_up = time.monotonic() - ended
        consumed_again = watcher.first_applied_after(stream, killed_at)

    published_again = cluster.seconds_until_log_line("admin-relay", killed_wall, " published ")
    roles_after = quorum_roles(cluster, survivor)
    new_leader = next((node for node, role in roles_after.items() if role == "leader"), None)
    depths = queues_on(cluster, survivor)
    lost = stream.missing(catalog_rows(cluster))
    figure(
        "cluster: queue leader's container killed mid-stream",
        f"{stream.acknowledged} changes sent, {stream.acknowledged - lost} applied, {lost} lost, "
        f"{depths.get(DEAD_LETTER_QUEUE)} dead-lettered; killed {leader}; the relay published again "
        f"{published_again if published_again is None else round(published_again, 1)} s and the catalog applied "
        f"again {consumed_again if consumed_again is None else round(consumed_again - killed_at, 1)} s after "
        f"the kill; catalog equal to admin {caught_up:.1f} s after the stream ended; new leader {new_leader}",
    )

    assert lost == 0
    assert stream.refused == [], stream.refused[:5]
    assert catalog_live(cluster) == admin_products(cluster, session)
    assert depths[DEAD_LETTER_QUEUE] == 0
    assert new_leader not in (None, leader)
    assert published_again is not None
    assert consumed_again is not None
    # The clients failed over by themselves: nothing of the app was restarted.
    for service in ("admin-relay", "catalog-worker", "catalog-beat", "flower"):
        assert cluster.container(service).status == "running", service
