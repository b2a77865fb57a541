"""The product-sync path end to end, with every process started from its start script."""

import time

import pytest
import requests

from testkit.http import create_products, wait_http
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def test_relay_and_worker_make_the_catalog_equal_the_admin(make_stack):
    """Integration: the real relay publishes to the real broker, a real worker applies."""
    stack = make_stack()
    stack.start("catalog-worker")
    stack.start("admin-relay")

    stack.edit_products("int", 600, updates=150, deletes=40)

    wait_until(stack.catalog_matches_admin, timeout=90, interval=0.2, what="catalog equals admin")
    assert len(stack.catalog_live()) == 560
    assert len(stack.catalog_tombstones()) == 40
    # The worker may apply a message before the relay commits its marks: wait for the commit.
    wait_until(lambda: stack.pending_outbox() == 0, timeout=30, what="every event marked published")
    results = wait_until(lambda: stack.task_results(), timeout=30, what="task results stored")
    assert all(r["status"] == "SUCCESS" for r in results)
    # 790 changes went out; a backlog travels in batches, so far fewer messages than changes.
    assert sum(r["result"]["applied"] + r["result"]["stale"] for r in results) == 790
    assert len(results) < 790


def test_admin_api_changes_reach_catalog_api_and_flower(make_stack):
    """End to end: staff edit through the admin API; the catalog API and Flower follow."""
    stack = make_stack()
    stack.start_services()
    stack.start("flower")
    wait_http(stack.url("flower", "/api/tasks"), status=401)

    assert requests.get(stack.url("admin", "/api/products/"), timeout=5).status_code in (401, 403)
    basic = stack.admin_api(basic_auth=True)
    assert basic.get(stack.url("admin", "/api/products/"), timeout=10).status_code == 200
    api = stack.admin_api()
    created = create_products(api, stack.url("admin"), prefix="E2E", count=3, price="10.00")
    assert [p["version"] for p in created] == [1, 1, 1]
    first, second, third = (p["id"] for p in created)

    started = time.monotonic()
    wait_until(
        lambda: requests.get(stack.url("catalog", f"/api/products/{first}/"), timeout=3).status_code == 200,
        timeout=10,
        what="first product in the catalog API",
    )
    first_visible_after = time.monotonic() - started

    response = api.patch(stack.url("admin", f"/api/products/{second}/"), json={"price": "12.50"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    response = api.put(
        stack.url("admin", f"/api/products/{first}/"),
        json={"sku": "E2E-0", "title": "Renamed", "price": "11.00", "is_active": False},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert api.delete(stack.url("admin", f"/api/products/{third}/"), timeout=10).status_code == 204

    def catalog_api_view():
        body = requests.get(stack.url("catalog", "/api/products/"), timeout=3).json()
        return {p["id"]: (p["version"], p["title"], p["price"], p["is_active"]) for p in body["results"]}

    expected = {first: (2, "Renamed", "11.00", False), second: (2, "E2E 1", "12.50", True)}
    wait_until(lambda: catalog_api_view() == expected, timeout=30, what="catalog API shows the edits")
    assert requests.get(stack.url("catalog", f"/api/products/{third}/"), timeout=3).status_code == 404
    assert stack.catalog_matches_admin()

    # The admin reports each product's sync state.
    listed = api.get(stack.url("admin", "/api/products/"), timeout=10).json()
    # The catalog web runs: the admin asks it and shows each product as applied.
    wait_until(
        lambda: all(
            p["sync_state"] == "applied"
            for p in api.get(stack.url("admin", "/api/products/"), timeout=10).json()["results"]
        ),
        timeout=10,
        what="admin shows every product applied",
    )
    assert listed["count"] == 2

    # Flower: refuses without (or with wrong) credentials; with them, every task succeeded.
    user, password = stack.flower_auth.split(":", 1)
    assert requests.get(stack.url("flower", "/api/tasks"), timeout=5).status_code == 401
    assert requests.get(stack.url("flower", "/api/tasks"), auth=(user, "wrong"), timeout=5).status_code == 401
    assert requests.get(stack.url("flower", "/"), timeout=5).status_code == 401

    # Six changes went out in as many messages as the relay's rounds made (edits close together
    # share one): each message is one task, and the worker stored one result per task.
    ((messages,),) = stack.q("catalog", "SELECT count(*) FROM django_celery_results_taskresult")
    assert messages >= 1

    def flower_tasks():
        tasks = requests.get(stack.url("flower", "/api/tasks"), auth=(user, password), timeout=5).json()
        states = [t["state"] for t in tasks.values() if t.get("name") == "catalog.sync_products"]
        return states if states == ["SUCCESS"] * messages else None

    states = wait_until(flower_tasks, timeout=30, interval=0.5, what="Flower reports every task succeeded")

    # Persistent state: a restarted Flower still shows the task history.
    flower = next(p for p in stack.processes if p.name == "flower")
    assert flower.stop() is not None
    stack.start("flower", suffix="-restarted")
    wait_http(stack.url("flower", "/api/tasks"), status=401)
    assert len(wait_until(flower_tasks, timeout=30, what="history after restart")) == len(states)
    print(f"first product visible in the catalog API {first_visible_after:.3f}s after its create returned")
