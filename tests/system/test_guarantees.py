"""One failing-if-broken test per guarantee of docs/architecture.md ("Guarantees"), each against real processes.

Tests that stop the broker run their own throw-away RabbitMQ node; the others use
their own vhost on the machine's broker and their own databases.
"""

import time

import pytest
import requests

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from testkit.events import envelope_of, wire_event
from testkit.messages import send_task, task_body
from testkit.postgres import holding, pg_connect, query
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def backends_waiting_on_lock(dbname: str, statement: str) -> int:
    rows = query(
        dbname,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND query ILIKE %s",
        [dbname, f"%{statement}%"],
    )
    return rows[0][0]


def test_broker_down_while_staff_edit_loses_nothing(make_stack, throwaway_broker):
    stack = make_stack(broker=throwaway_broker)
    fast_retry = {"RELAY_BACKOFF_MAX": "2", "RELAY_PUBLISH_TIMEOUT": "2"}
    stack.start("catalog-worker")
    stack.start("admin-relay", env=fast_retry)
    stack.start("admin-web")
    products_url = stack.url("admin", "/api/products/")
    wait_until(lambda: requests.get(products_url, timeout=3).status_code in (401, 403), timeout=60, what="admin API up")
    api = stack.admin_api()
    assert api.post(products_url, json={"sku": "UP-0", "title": "before", "price": "1.00"}, timeout=10).ok
    wait_until(stack.catalog_matches_admin, timeout=30, what="first product synced")

    throwaway_broker.stop()
    timings = []
    ids = []
    for i in range(20):
        started = time.monotonic()
        response = api.post(products_url, json={"sku": f"DOWN-{i}", "title": "while down", "price": "2.00"}, timeout=10)
        timings.append(time.monotonic() - started)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    for pid in ids[:5]:
        started = time.monotonic()
        response = api.patch(stack.url("admin", f"/api/products/{pid}/"), json={"title": "edited"}, timeout=10)
        timings.append(time.monotonic() - started)
        assert response.status_code == 200, response.text
    # The request never waits for the broker: every answer is quick although it is gone.
    assert max(timings) < 2.0, timings

    # The relay notices and records why, without losing anything.
    def failures_recorded():
        rows = query(
            stack.admin_db,
            "SELECT count(*), max(attempts), max(last_error) FROM products_outboxevent WHERE published_at IS NULL",
        )
        return rows[0] if rows[0][0] == 25 and rows[0][1] >= 1 and rows[0][2] else None

    wait_until(failures_recorded, timeout=30, what="publish failures recorded on the pending events")
    # Staff see it too: the product's current version is marked failed, not lost.
    wait_until(
        lambda: api.get(products_url + f"{ids[-1]}/", timeout=5).json()["sync_state"] == "failed",
        timeout=30,
        what="admin API shows the failed sync",
    )

    throwaway_broker.start()
    wait_until(stack.catalog_matches_admin, timeout=120, interval=0.3, what="catalog equals admin after restart")
    assert len(stack.catalog_live()) == 21
    # A change that failed more often backs off longer: it may go out after a newer version of
    # its product was applied (then skipped as older). Every row is published in the end.
    wait_until(lambda: stack.pending_outbox() == 0, timeout=60, what="every pending event published")
    print(f"API while the broker was down: max {max(timings) * 1000:.0f} ms over {len(timings)} writes")


def test_relay_killed_between_publish_and_mark_duplicates_without_effect(make_stack):
    stack = make_stack()
    stack.start("catalog-worker")
    stack.edit_products("dup", 30)
    assert stack.pending_outbox() == 30

    # The relay marks its rows inside the round's transaction and commits after the
    # last confirm. A deferred constraint trigger (this test's own, in its own
    # database) runs at that COMMIT and waits for an advisory lock the test holds:
    # the relay is stopped exactly between "broker confirmed" and "mark committed",
    # and killed there.
    query(
        stack.admin_db,
        """
        CREATE FUNCTION test_hold_commit() RETURNS trigger AS $$
        BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$ LANGUAGE plpgsql;
        CREATE CONSTRAINT TRIGGER test_hold_commit AFTER UPDATE ON products_outboxevent
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_hold_commit();
    """,
    )
    blocker = pg_connect(stack.admin_db)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(4242)")
    relay = stack.start("admin-relay")
    try:
        wait_until(lambda: len(stack.catalog_live()) == 30, timeout=60, what="published events applied")
        wait_until(
            lambda: backends_waiting_on_lock(stack.admin_db, "COMMIT") == 1,
            timeout=30,
            what="relay blocked in its commit",
        )
        relay.kill()
        # A COMMIT the server has received completes even without its client, so
        # the relay's session dies with it (as when the relay's host goes down).
        query(
            stack.admin_db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'COMMIT%%'",
            [stack.admin_db],
        )
    finally:
        blocker.close()  # releases the advisory lock
    query(stack.admin_db, "DROP TRIGGER test_hold_commit ON products_outboxevent")
    assert stack.pending_outbox() == 30  # the confirm arrived, the mark never committed

    stack.start("admin-relay", suffix="-restarted")
    wait_until(lambda: stack.pending_outbox() == 0, timeout=60, what="events published again")
    wait_until(
        lambda: sum(r["result"]["stale"] for r in stack.task_results() if r["result"]) == 30,
        timeout=60,
        what="duplicates delivered and skipped",
    )
    results = stack.task_results()
    assert sum(r["result"]["applied"] for r in results) == 30  # each change had effect once
    assert stack.catalog_matches_admin()


def test_worker_killed_mid_batch_loses_nothing(make_stack):
    stack = make_stack()
    stack.start("admin-relay")
    stack.edit_products("kill", 40, updates=10)
    wait_until(lambda: stack.pending_outbox() == 0, timeout=60, what="events published")

    # The worker's upsert will wait on this lock: it is mid-batch, message unacked.
    with holding(stack.catalog_db, "LOCK TABLE catalog_catalogproduct IN SHARE MODE"):
        worker = stack.start("catalog-worker")
        wait_until(
            lambda: backends_waiting_on_lock(stack.catalog_db, "INSERT INTO catalog_catalogproduct") >= 1,
            timeout=60,
            what="worker blocked inside its batch",
        )
        worker.kill()  # SIGKILL to the main process and its pool children
    assert stack.catalog_live() == {}
    wait_until(
        lambda: stack.queues.depth(SYNC_QUEUE) > 0,
        timeout=30,
        what="unacked messages back in the queue",
    )

    stack.start("catalog-worker", suffix="-restarted")
    wait_until(stack.catalog_matches_admin, timeout=60, what="catalog equals admin after redelivery")
    assert len(stack.catalog_live()) == 40
    assert stack.queues.depth(DEAD_LETTER_QUEUE) == 0


def test_duplicates_in_reverse_order_leave_catalog_equal_to_admin(make_stack):
    stack = make_stack()
    ids = stack.edit_products("rev", 6, updates=4, deletes=2)
    stack.admin_action("update", "--product-id", str(ids[0]), "--times", "3", "--title", "again")
    sent = int(stack.admin_action("publish-reversed-twice"))
    assert sent == 6 + 4 + 2 + 3

    # One process, one message at a time: delivery order is queue order (newest first).
    stack.start("catalog-worker", env={"CATALOG_WORKER_CONCURRENCY": "1"})
    wait_until(lambda: len(stack.task_results()) == 2 * sent, timeout=60, interval=0.2, what="all messages run")
    assert stack.catalog_matches_admin()
    results = stack.task_results()
    assert all(r["status"] == "SUCCESS" for r in results)
    # Newest first: each product's newest event applied, every other delivery skipped.
    assert sum(r["result"]["applied"] for r in results) == 6
    assert sum(r["result"]["stale"] for r in results) == 2 * sent - 6
    assert stack.catalog_live()[ids[0]][0] == 5  # created, updated, updated three more times


def test_poison_messages_are_dead_lettered_and_the_worker_keeps_serving(make_stack):
    stack = make_stack()
    stack.start("catalog-worker")
    stack.wait_for_consumers()

    bad_body = task_body(envelope_of(wire_event(999, 1, sku="BAD", title="negative", price="-1.00")))
    with stack.queues.channel() as channel:
        send_task(channel, b"{this is not json")
        send_task(channel, bad_body)

    stack.start("admin-relay")
    stack.edit_products("good", 1)
    wait_until(stack.catalog_matches_admin, timeout=60, what="the good change applied after the poison")
    assert 999 not in stack.catalog_live()
    wait_until(
        lambda: stack.queues.depth(DEAD_LETTER_QUEUE) == 2,
        timeout=30,
        what="both poison messages dead-lettered",
    )
    dead = stack.queues.drain(DEAD_LETTER_QUEUE)
    bodies = sorted(body for _, body in dead)
    assert bodies == sorted([b"{this is not json", bad_body])
    assert all(props.headers["x-death"][0]["reason"] == "rejected" for props, _ in dead)
    assert stack.processes[0].alive()
    log = stack.processes[0].log()
    assert "price must be a finite number >= 0" in log  # the reason, in the worker's log
    assert "undecodable message" in log
