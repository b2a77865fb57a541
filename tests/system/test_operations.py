"""Operations against real processes: staff see "applied", the drift check heals a lost change by
itself, dead letters are listed with their reason and replayed, metrics answer, and the start-up
self-check stops a wrong broker set-up while a broker that is down only warns."""

import re
import subprocess

import pytest
import requests

from sync_contract import DEAD_LETTER_QUEUE, MAX_BATCH
from testkit.broker import REFUSING_URL
from testkit.events import envelope_of, wire_event
from testkit.http import create_products
from testkit.messages import new_task_id, send_dead_letter, send_task, task_body
from testkit.paths import START
from testkit.postgres import query
from testkit.users import STAFF_PASSWORD, STAFF_USER
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

STAFF = (STAFF_USER, STAFF_PASSWORD)


def admin_products(api: requests.Session, stack) -> dict[int, dict]:
    body = api.get(stack.url("admin", "/api/products/"), timeout=10).json()
    return {p["id"]: p for p in body["results"]}


def test_staff_see_applied_and_the_drift_check_repairs_a_lost_change_by_itself(make_stack):
    stack = make_stack()
    fast_drift = {"DRIFT_CHECK_INTERVAL": "2", "DRIFT_GRACE_SECONDS": "1"}
    stack.start_services(env=fast_drift)
    api = stack.admin_api()
    ids = [p["id"] for p in create_products(api, stack.url("admin"), prefix="OPS", count=3, price="4.00")]
    # "applied" comes from the real catalog web process, over HTTP.
    wait_until(
        lambda: {p["sync_state"] for p in admin_products(api, stack).values()} == {"applied"},
        timeout=30,
        what="every product applied",
    )
    assert {p["catalog_version"] for p in admin_products(api, stack).values()} == {1}

    # A change lost behind the admin's back (a restored catalog backup, a purged queue...).
    query(stack.catalog_db, "DELETE FROM catalog_catalogproduct WHERE product_id = %s", [ids[0]])
    wait_until(
        lambda: admin_products(api, stack)[ids[0]]["sync_state"] == "published",
        timeout=10,
        what="the admin shows the product as not applied",
    )
    # The relay's periodic drift check finds it and re-sends it (the sync queue is idle).
    wait_until(
        lambda: query(stack.admin_db, "SELECT count(*) FROM products_driftcheck WHERE repaired > 0")[0][0],
        timeout=60,
        interval=0.3,
        what="a drift check that repaired",
    )
    wait_until(stack.catalog_matches_admin, timeout=30, what="catalog equals admin again")
    wait_until(lambda: admin_products(api, stack)[ids[0]]["sync_state"] == "applied", timeout=10, what="applied again")

    health = api.get(stack.url("admin", "/admin/sync-health/"), timeout=10).text
    assert 'id="outbox-backlog" class="good">0<' in health
    assert "p50 <strong>" in health
    assert '<svg id="lag-chart"' in health
    assert '<strong class="good">0</strong>' in health  # dead letters, read from the broker
    assert 'id="drift-result"' in health

    # Metrics: protected, then real numbers from both services.
    assert requests.get(stack.url("admin", "/metrics"), timeout=5).status_code == 401
    assert requests.get(stack.url("catalog", "/metrics"), timeout=5).status_code == 401
    admin_metrics = requests.get(stack.url("admin", "/metrics"), auth=STAFF, timeout=10).text
    assert "sync_outbox_backlog 0.0" in admin_metrics
    assert "sync_relay_publishing{" in admin_metrics
    catalog_metrics = requests.get(stack.url("catalog", "/metrics"), auth=STAFF, timeout=10).text
    assert 'catalog_sync_events_total{outcome="applied"} 4.0' in catalog_metrics  # 3 + the repaired one
    assert 'catalog_sync_lag_recent_seconds_bucket{le="+Inf"} 3.0' in catalog_metrics

    # Logs carry event_id, product_id and version on both sides.
    relay_log = next(p for p in stack.processes if p.name == "admin-relay").log()
    worker_log = next(p for p in stack.processes if p.name == "catalog-worker").log()
    for pid in ids:  # one line per event, or a batch's products=<id>:<version>,... list
        logged = re.compile(rf"product_id={pid} version=1\b|products=(\S+,)?{pid}:1\b")
        assert logged.search(relay_log), pid
        assert logged.search(worker_log), pid


def test_dead_letters_are_listed_with_their_reason_replayed_and_purged(make_stack):
    stack = make_stack()
    stack.start("catalog-worker")
    stack.wait_for_consumers()
    limited = new_task_id()
    with stack.queues.channel() as channel:
        undecodable = send_task(channel, b"{this is not json")
        invalid = send_task(channel, task_body(envelope_of()))
        # As if the sync queue had dead-lettered it at its delivery limit:
        replayable = task_body(envelope_of(wire_event(4242, 1, sku="REPLAYED")))
        send_dead_letter(channel, replayable, reason="delivery_limit", task_id=limited)
    wait_until(lambda: stack.queues.depth(DEAD_LETTER_QUEUE) == 3, timeout=30, what="three dead letters")

    listing = stack.manage("catalog", "dead_letters", "list").stdout
    assert "3 message(s)" in listing
    assert f"{undecodable}" in listing
    assert "undecodable body" in listing
    # The task's reason, from django-celery-results under the task id:
    assert f"{invalid}" in listing
    assert f"rejected by the task: events must be a list of 1..{MAX_BATCH} items" in listing
    assert f"{limited}" in listing
    assert "delivery_limit" in listing

    stack.manage("catalog", "dead_letters", "replay", limited)
    wait_until(lambda: 4242 in stack.catalog_live(), timeout=30, what="the replayed message applied")
    assert stack.queues.depth(DEAD_LETTER_QUEUE) == 2

    # Replaying an invalid message sends it back, and the worker dead-letters it again.
    stack.manage("catalog", "dead_letters", "replay", invalid)
    wait_until(
        lambda: stack.queues.depth(DEAD_LETTER_QUEUE) == 2,
        timeout=30,
        what="the invalid one back in the dead-letter queue",
    )
    stack.manage("catalog", "dead_letters", "purge", "--yes")
    assert stack.queues.depth(DEAD_LETTER_QUEUE) == 0


def test_relay_and_migrate_start_with_the_broker_down(make_stack):
    stack = make_stack()
    down = {"CELERY_BROKER_URL": REFUSING_URL}
    stack.manage("admin", "migrate", "--noinput", env=down, timeout=60)
    stack.manage("catalog", "migrate", "--noinput", env=down, timeout=60)
    relay = stack.start("admin-relay", env=down)
    wait_until(lambda: "relay started" in relay.log(), timeout=60, what="the relay starts without a broker")
    log = relay.log()
    assert "sync.W021" in log
    assert "guest:guest@" not in log
    stack.edit_products("DOWN", 1)
    wait_until(
        lambda: query(stack.admin_db, "SELECT count(*) FROM products_relaystatus WHERE consecutive_failures > 0")[0][0],
        timeout=30,
        what="the relay records that it cannot publish",
    )
    assert relay.alive()


def test_queues_with_other_arguments_stop_the_worker_and_the_catalog_check(make_stack):
    stack = make_stack()
    with stack.queues.channel() as channel:
        channel.queue_delete(DEAD_LETTER_QUEUE)  # provisioned with the stack; replaced by a wrong one
        channel.queue_declare(DEAD_LETTER_QUEUE, durable=True)  # classic: not what the contract declares
    with pytest.raises(subprocess.CalledProcessError) as failed:
        stack.manage("catalog", "check", timeout=60)
    assert "sync.E020" in failed.value.stderr
    result = subprocess.run([str(START / "catalog-worker")], env=stack.env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "sync.E020" in result.stderr
    # The admin only publishes (it declares nothing): its check passes, its relay holds the
    # changes in the outbox until the worker can declare the queues.
    assert "sync.E020" not in stack.manage("admin", "check", timeout=60).stderr
