"""The scale-out path for real: a three-node RabbitMQ cluster, one node killed mid-stream.

Three throw-away nodes on this machine (own names, ports and data dirs) run the
shipped docker/rabbitmq/ configuration and are joined with ``rabbitmqctl
join_cluster``; docker/rabbitmq/provision.py (compose's `rabbitmq-init`) creates the
vhost and the service users. The relay and a worker run from their start scripts
with production settings and, as in docker-compose.yml, a CELERY_BROKER_URL that
lists every node separated by ';'. A producer commits changes through the admin
service layer while the node holding the quorum queue's leader and every client
connection is SIGKILLed.

A second test boots a blank node with the shipped cluster.conf (node names replaced
by this machine's) and checks that it joins the seed by itself, as rabbitmq-2 and
rabbitmq-3 do in the compose cluster profile.
"""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from testkit.broker import rabbitmqctl
from testkit.postgres import query
from testkit.waiting import wait_until
from tests.deploy.brokers import RABBITMQ_DIR, VHOST, ComposeLikeNode, secret
from tests.deploy.stack import (
    ADMIN_SETTINGS,
    CATALOG_SETTINGS,
    committed_count,
    committed_versions,
    not_yet_applied,
    production,
    run_migrate,
    start_producer,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

RATE = 20.0  # changes per second, each its own transaction
DURATION = 24.0  # seconds of stream
KILL_AFTER = 150  # committed changes before the kill (about a third of the stream)


def test_killing_a_cluster_node_mid_stream_loses_no_change(broker_cluster, make_deploy_stack):
    cluster = broker_cluster
    stack = make_deploy_stack(cluster, VHOST)
    with ThreadPoolExecutor(2) as pool:
        provisioned = pool.submit(cluster.provision)
        migrated = pool.submit(run_migrate, stack, cluster.service_url("catalog"))
        result = provisioned.result()
        migrated.result()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 node(s) running" in result.stdout

    worker = stack.start("catalog-worker", env=production(stack, CATALOG_SETTINGS, cluster.service_url("catalog")))
    relay = stack.start("admin-relay", env=production(stack, ADMIN_SETTINGS, cluster.service_url("product_admin")))
    stack.wait_for_consumers(timeout=90)

    # Declared by rabbitmq-init once all three nodes had joined: the initial group is the whole cluster.
    members = cluster.quorum_status(SYNC_QUEUE)
    assert sorted(members) == sorted(node.node for node in cluster.nodes), members
    leader = next(name for name, state in members.items() if state == "leader")
    # The victim: the first node of every client's list, so every connection is on it;
    # the queue was declared through it, so it normally holds the leader too (reported below).
    victim = cluster.nodes[0]

    producer = start_producer(stack, prefix="ha", rate=RATE, duration=DURATION)
    try:
        wait_until(
            lambda: committed_count(stack) >= KILL_AFTER,
            timeout=60,
            interval=0.1,
            what=f"{KILL_AFTER} changes committed",
        )
        wait_until(
            lambda: not_yet_applied(stack, committed_versions(stack)) < KILL_AFTER,
            timeout=30,
            interval=0.1,
            what="changes flowing into the catalog",
        )

        killed_at, killed_at_wall = time.monotonic(), datetime.now(UTC)
        victim.kill()

        # Recovered: the catalog again holds every change committed a second earlier
        # (steady-state lag here is well under that), counting from the kill.
        snapshots: list[tuple[float, dict[int, int]]] = []

        def within_a_second_again() -> bool:
            now = time.monotonic()
            snapshots.append((now, committed_versions(stack)))
            older = [versions for taken, versions in snapshots if now - taken >= 1.0]
            return bool(older) and not_yet_applied(stack, older[-1]) == 0

        wait_until(within_a_second_again, timeout=90, interval=0.1, what="catalog within a second of the admin")
        recovered_after = time.monotonic() - killed_at

        assert producer.wait(timeout=DURATION + 60) == 0
    finally:
        if producer.alive():
            producer.kill()
    stream_ended = time.monotonic()

    wait_until(
        lambda: stack.pending_outbox() == 0 and stack.catalog_matches_admin(),
        timeout=90,
        interval=0.2,
        what="catalog equals admin",
    )
    caught_up_after_stream = time.monotonic() - stream_ended

    sent = committed_count(stack)
    applied = sent - not_yet_applied(stack, committed_versions(stack))
    lost = sent - applied
    after_kill = query(
        stack.catalog_db,
        "SELECT count(*) FROM django_celery_results_taskresult WHERE date_done > %s AND status = 'SUCCESS'",
        [killed_at_wall],
    )[0][0]
    members_after = cluster.quorum_status(SYNC_QUEUE)
    results = [r["result"] for r in stack.task_results() if r["status"] == "SUCCESS" and r["result"]]
    print(
        f"\ncluster figures: changes sent {sent}, applied {applied}, lost {lost}; "
        f"catalog again within 1 s of the admin {recovered_after:.1f}s after the kill; "
        f"catalog equal to admin {caught_up_after_stream:.1f}s after the stream ended; "
        f"{after_kill} tasks succeeded after the kill; the workers applied "
        f"{sum(r['applied'] for r in results)} events and skipped {sum(r['stale'] for r in results)} as stale; "
        f"killed {victim.node}; queue leader {leader} -> "
        f"{next((n for n, s in members_after.items() if s == 'leader'), None)}"
    )

    assert lost == 0
    assert sent >= RATE * DURATION * 0.8  # the stream really ran through the kill
    # The relay and the worker carried on, failing over to the surviving nodes.
    assert relay.alive()
    assert worker.alive()
    assert after_kill > 0
    survivors = {node.port for node in cluster.nodes[1:]}
    assert any(f"127.0.0.1:{port}" in worker.log() for port in survivors), "worker never reconnected"
    assert victim.node not in [name for name, state in members_after.items() if state == "leader"]
    assert stack.queues.depth(DEAD_LETTER_QUEUE) == 0


def test_the_shipped_cluster_config_forms_the_cluster_by_itself():
    """docker/rabbitmq/cluster.conf as compose mounts it on rabbitmq-2: a blank node joins the seed."""
    password = secret()
    seed, joiner = ComposeLikeNode(password), ComposeLikeNode(password)
    # This machine's node names stand in for the containers' (rabbit@rabbitmq, -2, -3);
    # the third is listed but never started, as when rabbitmq-3 comes up later.
    names = {"rabbit@rabbitmq": seed.node, "rabbit@rabbitmq-2": joiner.node, "rabbit@rabbitmq-3": "absent@localhost"}
    shipped = (RABBITMQ_DIR / "cluster.conf").read_text()
    conf = re.sub(r"= (rabbit@rabbitmq(?:-\d)?)$", lambda m: "= " + names[m.group(1)], shipped, flags=re.MULTILINE)
    assert conf.count("@localhost") == 3
    joiner.add_conf("40-cluster.conf", conf)
    try:
        seed.start()
        joiner.start_detached()  # after the seed is up, as depends_on orders them
        joiner.await_startup()
        running = rabbitmqctl("eval", "lists:sort(rabbit_nodes:all_running()).", node=seed.node).stdout
        assert seed.node in running
        assert joiner.node in running
        handling = rabbitmqctl(
            "eval", "application:get_env(rabbit, cluster_partition_handling).", node=joiner.node
        ).stdout
        assert "pause_minority" in handling
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ComposeLikeNode.destroy, [joiner, seed]))
