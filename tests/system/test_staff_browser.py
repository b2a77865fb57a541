"""The staff workflow in a real browser: Debian's headless Chromium, driven by Playwright.

Log in to the admin, create a product and watch it reach "applied", edit it, delete it,
open the sync health page and Flower's task list. Screenshots go to
test-artifacts/browser/ (two of them are in docs/, shown by docs/operations.md).

Needs /usr/bin/chromium (apt-get install chromium; see README, Requirements); Playwright's own
browser download is not used.
"""

import re
import shutil
from pathlib import Path

import pytest
import requests

from testkit.http import create_products, wait_http
from testkit.paths import ARTIFACTS
from testkit.users import STAFF_PASSWORD, STAFF_USER
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = ARTIFACTS / "browser"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def reload_until(page, predicate, *, timeout: float, what: str) -> None:
    """Reload the page until ``predicate(page)`` holds (staff pressing F5), with a deadline."""

    def seen() -> bool:
        if predicate(page):
            return True
        page.reload()
        return False

    try:
        wait_until(seen, timeout=timeout, interval=0.3, what=what)
    except TimeoutError:
        page.screenshot(path=str(SHOTS / "timeout.png"), full_page=True)
        raise


def state_of(page, sku: str) -> str:
    row = page.locator("#result_list tbody tr", has_text=sku)
    return row.locator("td.field-sync_state").inner_text() if row.count() else ""


def test_staff_create_edit_delete_and_watch_the_sync_in_a_browser(make_stack, browser):
    stack = make_stack()
    stack.start_services(
        "catalog-worker",
        "admin-relay",
        "admin-web",
        "catalog-web",
        env={"DRIFT_CHECK_INTERVAL": "3", "DRIFT_GRACE_SECONDS": "1"},
    )
    stack.start("flower")
    wait_http(stack.url("flower", "/"), status=401)

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)

    # Log in.
    page.goto(stack.url("admin", "/admin/login/"))
    page.fill("#id_username", STAFF_USER)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#sync-operations")
    assert "Sync health" in page.inner_text("#sync-operations")

    # Create a product in the admin form.
    page.goto(stack.url("admin", "/admin/products/product/add/"))
    page.fill("#id_sku", "BROWSER-1")
    page.fill("#id_title", "Made in a browser")
    page.fill("#id_price", "12.50")
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    assert "was added successfully" in page.inner_text(".messagelist")
    reload_until(page, lambda p: state_of(p, "BROWSER-1") == "applied", timeout=30, what="state applied")
    page.screenshot(path=str(SHOTS / "01-product-applied.png"), full_page=True)
    product_id = int(
        re.search(
            r"/product/(\d+)/change/", page.locator("#result_list a", has_text="BROWSER-1").get_attribute("href")
        ).group(1)
    )
    assert requests.get(stack.url("catalog", f"/api/products/{product_id}/"), timeout=5).json()["version"] == 1

    # Edit it: version 2 reaches the catalog too.
    page.click("#result_list a:has-text('BROWSER-1')")
    page.fill("#id_title", "Edited in a browser")
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")

    def applied_v2(p) -> bool:
        row = p.locator("#result_list tbody tr", has_text="BROWSER-1")
        return row.locator("td.field-version").inner_text() == "2" and state_of(p, "BROWSER-1") == "applied"

    reload_until(page, applied_v2, timeout=30, what="version 2 applied")
    page.goto(stack.url("admin", f"/admin/products/product/{product_id}/change/"))
    assert page.inner_text(".field-catalog_version .readonly") == "2"
    page.screenshot(path=str(SHOTS / "02-product-detail.png"), full_page=True)
    body = requests.get(stack.url("catalog", f"/api/products/{product_id}/"), timeout=5).json()
    assert (body["version"], body["title"]) == (2, "Edited in a browser")

    # Delete it: gone from the admin and, shortly after, from the catalog API.
    page.click("a.deletelink")
    page.click("input[type=submit]")  # "Yes, I'm sure"
    page.wait_for_selector(".messagelist")
    assert "was deleted successfully" in page.inner_text(".messagelist")
    wait_until(
        lambda: requests.get(stack.url("catalog", f"/api/products/{product_id}/"), timeout=5).status_code == 404,
        timeout=30,
        what="the product leaves the catalog",
    )

    # A few more changes (an import, say), so the lag chart has something to show.
    create_products(stack.admin_api(), stack.url("admin"), prefix="MORE", count=8, price="1.00")
    wait_until(lambda: len(stack.catalog_live()) == 8, timeout=30, what="the other products applied")

    # The sync health page: nothing waiting, lag measured, and (after a drift run) agreement.
    page.goto(stack.url("admin", "/admin/sync-health/"))
    reload_until(
        page,
        lambda p: (
            p.locator("#drift-result").count()
            and "they agree" in p.inner_text("#drift-result")
            and "admin 8, catalog 8" in p.inner_text("#health-drift")
        ),
        timeout=30,
        what="a drift check over the eight products that agrees",
    )
    assert page.inner_text("#outbox-backlog") == "0"
    assert page.locator("#lag-chart").count() == 1
    assert "p50" in page.inner_text("#health-lag")
    page.screenshot(path=str(SHOTS / "03-sync-health.png"), full_page=True)

    # Flower's task list, behind its Basic auth.
    user, password = stack.flower_auth.split(":", 1)
    flower = browser.new_context(
        viewport={"width": 1280, "height": 860}, http_credentials={"username": user, "password": password}
    )
    flower_page = flower.new_page()
    flower_page.set_default_timeout(15_000)
    flower_page.goto(stack.url("flower", "/tasks"))
    reload_until(
        flower_page,
        lambda p: p.locator("text=catalog.sync_products").count() >= 3 and p.locator("text=SUCCESS").count() >= 3,
        timeout=30,
        what="Flower lists the tasks",
    )
    flower_page.screenshot(path=str(SHOTS / "04-flower-tasks.png"), full_page=True)
    flower.close()
    context.close()
    for name in ("01-product-applied.png", "03-sync-health.png"):
        assert (SHOTS / name).stat().st_size > 10_000
    assert shutil.which("chromium") or CHROMIUM.exists()
