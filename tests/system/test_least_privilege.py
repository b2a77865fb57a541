"""Least privilege against real processes: what Flower (its login or its broker user) may do
cannot drop a change, and a deleted sync queue loses nothing (docs/decisions/0016-least-privilege.md)."""

from __future__ import annotations

import re

import pytest
import requests

from sync_contract import SYNC_QUEUE, TASK_SYNC_PRODUCTS
from testkit.events import envelope_of, wire_event
from testkit.http import wait_http
from testkit.messages import send_task, task_body
from testkit.users import STAFF_PASSWORD, STAFF_USER
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

WORKER = "catalog@least-privilege"


def flower_api(stack) -> requests.Session:
    session = requests.Session()
    session.auth = tuple(stack.flower_auth.split(":", 1))
    return session


def catalog_versions(stack) -> dict[int, int]:
    return {pid: row[0] for pid, row in stack.catalog_rows().items()}


def send(stack, product_id: int) -> str:
    with stack.queues.channel() as channel:
        return send_task(channel, task_body(envelope_of(wire_event(product_id, 1))))


def test_nothing_sent_through_flower_drops_a_change_and_flower_still_shows_the_worker(make_stack):
    stack = make_stack()
    # Flower's own read-only mode off: every command reaches the worker, which must refuse it.
    stack.start_services("catalog-worker", env={"CATALOG_WORKER_CONCURRENCY": "1", "CATALOG_WORKER_NAME": WORKER})
    stack.start("flower", env={"FLOWER_READ_ONLY": "false"})
    stack.wait_for_consumers()
    wait_http(stack.url("flower", "/healthcheck"))
    flower = flower_api(stack)
    workers = wait_until(
        lambda: (
            (r := flower.get(stack.url("flower", "/api/workers?refresh=1"), timeout=15)).ok
            and WORKER in r.json()
            and r.json()
        ),
        timeout=60,
        interval=0.5,
        what="Flower lists the worker",
    )
    assert TASK_SYNC_PRODUCTS in workers[WORKER]["registered"]

    # The worker's one process busy on a task held up by a table lock: the next task waits in the queue.
    blocker = stack.catalog_pg.connect(stack.catalog_db)
    blocker.autocommit = False
    try:
        blocker.cursor().execute("LOCK TABLE catalog_catalogproduct IN ACCESS EXCLUSIVE MODE")
        send(stack, 1)
        wait_until(lambda: stack.queues.depth(SYNC_QUEUE) == 0, timeout=30, what="the first task taken")
        waiting = send(stack, 2)
        wait_until(lambda: stack.queues.depth(SYNC_QUEUE) == 1, timeout=30, what="the second task waiting")

        revoked = flower.post(stack.url("flower", f"/api/task/revoke/{waiting}"), timeout=15)
        assert revoked.status_code == 200, revoked.text
        # Answered after the revoke (one mailbox, in order): by then the revoke was handled.
        limited = flower.post(
            stack.url("flower", f"/api/task/rate-limit/{TASK_SYNC_PRODUCTS}"),
            data={"workername": WORKER, "ratelimit": "1/h"},
            timeout=15,
        )
        blocker.rollback()
    finally:
        blocker.close()

    wait_until(
        lambda: set(catalog_versions(stack)) == {1, 2}, timeout=60, what="both changes applied, the revoked one too"
    )
    assert limited.status_code == 403, limited.text
    assert "refused" in limited.text

    # Shut down, stop consuming, time limits: refused; the worker keeps consuming.
    shutdown = flower.post(stack.url("flower", f"/api/worker/shutdown/{WORKER}"), timeout=15)
    assert shutdown.status_code == 200
    cancelled = flower.post(
        stack.url("flower", f"/api/worker/queue/cancel-consumer/{WORKER}"), data={"queue": SYNC_QUEUE}, timeout=15
    )
    assert cancelled.status_code == 403, cancelled.text
    assert "refused" in cancelled.text
    timed = flower.post(
        stack.url("flower", f"/api/task/timeout/{TASK_SYNC_PRODUCTS}"),
        data={"workername": WORKER, "hard": "0.001", "soft": "0.001"},
        timeout=15,
    )
    assert timed.status_code == 403, timed.text
    for _ in range(5):
        send(stack, 3)
    wait_until(lambda: 3 in catalog_versions(stack), timeout=60, what="a change after the refused commands")
    assert stack.queues.consumers(SYNC_QUEUE) == 1
    assert all(p.alive() for p in stack.processes)

    # Flower still shows the worker and its tasks.
    workers = flower.get(stack.url("flower", "/api/workers?refresh=1"), timeout=15).json()
    assert workers[WORKER]["active_queues"][0]["name"] == SYNC_QUEUE
    assert {"stats", "registered", "conf", "active_queues"} <= set(workers[WORKER])
    tasks = wait_until(
        lambda: (t := flower.get(stack.url("flower", "/api/tasks"), timeout=15).json()).get(waiting) and t,
        timeout=30,
        what="Flower lists the tasks",
    )
    assert tasks[waiting]["state"] == "SUCCESS"
    assert "refused remote control command 'revoke'" in stack.processes[0].log()


def test_flower_is_read_only_by_default(make_stack):
    stack = make_stack()
    stack.start("flower")
    wait_http(stack.url("flower", "/healthcheck"))
    response = flower_api(stack).post(stack.url("flower", "/api/task/revoke/00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 403, response.text


def test_a_deleted_sync_queue_loses_no_change(make_stack):
    # No drift repair within the test: only the relay can bring the changes across.
    stack = make_stack(env={"DRIFT_CHECK_INTERVAL": "0", "RELAY_BACKOFF_MAX": "2"})
    relay = stack.start("admin-relay")
    before = stack.edit_products("BEFORE", 5)
    wait_until(lambda: stack.pending_outbox() == 0 and stack.queues.depth(SYNC_QUEUE) > 0, timeout=60, what="published")

    # No worker consumes (a deploy, say) and the queue is deleted with what it held.
    with stack.queues.channel() as channel:
        channel.queue_delete(SYNC_QUEUE)
    during = stack.edit_products("DURING", 10, updates=3, deletes=2)
    wait_until(
        lambda: stack.q("admin", "SELECT count(*) FROM products_relaystatus WHERE consecutive_failures > 0")[0][0],
        timeout=30,
        what="the relay counts the returned messages as failed publishes",
    )
    assert stack.pending_outbox() > 0
    assert "returned the message unroutable" in relay.log()

    # A worker starts (it declares the queue): every change made while it was gone arrives.
    stack.start("catalog-worker")
    # (What the deleted queue held, `before`, is the drift check's to repair: switched off here.)
    wait_until(lambda: arrived(stack, during), timeout=90, what="every change made while the queue was gone")
    wait_until(lambda: stack.pending_outbox() == 0, timeout=30, what="the outbox published")
    assert before


def arrived(stack, ids: list[int]) -> bool:
    """The catalog holds each product of ``ids`` as the admin has it (live, or its delete)."""
    admin, deleted = stack.admin_state(), stack.admin_deleted()
    live, tombstones = stack.catalog_live(), stack.catalog_tombstones()
    return all(live.get(pid) == admin[pid] if pid in admin else tombstones.get(pid) == deleted.get(pid) for pid in ids)


def login(session: requests.Session, base_url: str) -> None:
    """Log in through the Django admin's login form, as a browser does."""
    page = session.get(f"{base_url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base_url}/admin/login/",
        data={"username": STAFF_USER, "password": STAFF_PASSWORD, "next": "/admin/", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base_url}/admin/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]


def logged_in(session: requests.Session, base_url: str) -> bool:
    return session.get(f"{base_url}/admin/", timeout=10, allow_redirects=False).status_code == 200


def test_logging_in_to_one_service_keeps_the_browser_logged_in_to_the_other(make_stack):
    stack = make_stack()
    stack.start_services("admin-web", "catalog-web")
    admin, catalog = stack.url("admin"), stack.url("catalog")
    browser = requests.Session()  # one cookie jar: cookies ignore the port, both run on 127.0.0.1
    login(browser, admin)
    form = browser.get(f"{admin}/admin/auth/user/add/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)

    login(browser, catalog)

    assert logged_in(browser, catalog)
    assert logged_in(browser, admin), "logging in to the catalog logged the browser out of the admin"
    # The admin form opened before still posts (its CSRF cookie was not replaced).
    posted = browser.post(
        f"{admin}/admin/auth/user/add/",
        data={
            "username": "second",
            "password1": "x-9-long-pass",
            "password2": "x-9-long-pass",
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": f"{admin}/admin/auth/user/add/"},
        timeout=10,
        allow_redirects=False,
    )
    assert posted.status_code == 302, posted.status_code
    names = {c.name for c in browser.cookies}
    assert {"admin_sessionid", "admin_csrftoken", "catalog_sessionid", "catalog_csrftoken"} <= names
    assert not {"sessionid", "csrftoken"} & names
