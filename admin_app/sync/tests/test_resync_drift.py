"""Resync (admin action, command) and the drift check (compare, repair, store, periodic)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from products.models import OutboxEvent, Product
from products.services import product_delete, product_update
from products.tests.factories import make_product
from sync.drift import KINDS, find_differences
from sync.drift_check import PeriodicDriftCheck, run_drift_check
from sync.models import DriftCheck
from sync_contract.checksums import step_of
from testkit.waiting import wait_until

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/products/product/"


def events_of(pid: int) -> list[tuple[int, str]]:
    return list(OutboxEvent.objects.filter(product_id=pid).order_by("id").values_list("version", "op"))


def age_outbox(seconds: float = 3600) -> None:
    """Mark everything published long ago: nothing is in flight."""
    OutboxEvent.objects.update(published_at=timezone.now() - timedelta(seconds=seconds))


# --- resync -------------------------------------------------------------------------------


def test_the_resync_action_writes_current_state_without_a_version_bump(admin_client) -> None:
    a, b, other = make_product(), make_product(), make_product()
    product_update(product_id=b.pk, data={"title": "b v2"})

    response = admin_client.post(
        CHANGELIST, {"action": "resync_selected", "_selected_action": [a.pk, b.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "2 products queued for resync" in response.content.decode()
    assert events_of(a.pk) == [(1, "upsert"), (1, "upsert")]
    assert events_of(b.pk) == [(1, "upsert"), (2, "upsert"), (2, "upsert")]
    assert OutboxEvent.objects.filter(product_id=b.pk).last().data["title"] == "b v2"
    assert events_of(other.pk) == [(1, "upsert")]
    assert Product.objects.get(pk=b.pk).version == 2


def test_resync_catalog_sends_every_product_in_batches_with_progress() -> None:
    products = [make_product() for _ in range(7)]
    before = OutboxEvent.objects.count()
    out, err = StringIO(), StringIO()

    call_command("resync_catalog", "--batch-size", "3", stdout=out, stderr=err)

    assert OutboxEvent.objects.count() == before + 7
    assert "7 events written" in out.getvalue()
    progress = err.getvalue()
    assert "7/7 (100%)" in progress
    assert "3/7" in progress
    for p in products:
        assert events_of(p.pk)[-1] == (1, "upsert")


def test_resync_catalog_takes_ids_and_names_unknown_ones() -> None:
    a, b = make_product(), make_product()
    err = StringIO()

    call_command("resync_catalog", str(a.pk), "999999", stdout=StringIO(), stderr=err)

    assert len(events_of(a.pk)) == 2
    assert len(events_of(b.pk)) == 1
    assert "999999" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("resync_catalog", "--batch-size", "0", stdout=StringIO(), stderr=StringIO())


# --- drift check --------------------------------------------------------------------------


@pytest.fixture
def drifted(fake_catalog):
    """One product per kind of difference, plus agreeing ones, nothing in flight."""
    same, missing, stale, ahead = (make_product(sku=s) for s in ("SAME", "MISSING", "STALE", "AHEAD"))
    product_update(product_id=stale.pk, data={"title": "stale v2"})
    gone, gone_late = make_product(sku="GONE"), make_product(sku="GONE-LATE")
    product_delete(product_id=gone.pk)  # v2 delete; the catalog has the tombstone
    product_delete(product_id=gone_late.pk)  # v2 delete; the catalog still shows v1 live
    age_outbox()
    fake_catalog.hold(same.pk, 1)
    fake_catalog.hold(stale.pk, 1)
    fake_catalog.hold(ahead.pk, 5)
    fake_catalog.hold(gone.pk, 2, deleted=True)
    fake_catalog.hold(
        gone_late.pk,
        1,
        data={"sku": "GONE-LATE", "title": "x", "description": "", "price": "1.00", "image_url": "", "is_active": True},
    )
    extra_id = 10_000_000
    fake_catalog.hold(
        extra_id,
        3,
        data={"sku": "EXTRA", "title": "Extra", "description": "", "price": "2.50", "image_url": "", "is_active": True},
    )
    fake_catalog.hold(extra_id + 1, 4, deleted=True)  # an old tombstone: fine
    return {
        "same": same,
        "missing": missing,
        "stale": stale,
        "ahead": ahead,
        "gone": gone,
        "gone_late": gone_late,
        "extra": extra_id,
    }


def test_the_drift_check_reports_each_kind_of_difference(drifted) -> None:
    check = run_drift_check(page_size=2)  # several pages on the catalog side

    assert (check.missing, check.stale, check.extra, check.ahead) == (1, 2, 1, 1)
    assert check.sample == {
        "missing": [drifted["missing"].pk],
        "stale": sorted([drifted["stale"].pk, drifted["gone_late"].pk]),
        "extra": [drifted["extra"]],
        "ahead": [drifted["ahead"].pk],
    }
    assert (check.admin_products, check.catalog_products) == (4, 5)  # live rows on each side
    assert not check.ok
    assert check.repaired == 0
    assert DriftCheck.objects.get() == check


def test_repair_resends_each_difference_the_right_way(drifted) -> None:
    before = OutboxEvent.objects.count()

    check = run_drift_check(repair_found=True)

    assert check.ok
    assert check.repaired == 5
    new = {e.product_id: e for e in OutboxEvent.objects.order_by("id")[before:]}
    assert (new[drifted["missing"].pk].version, new[drifted["missing"].pk].op) == (1, "upsert")
    assert (new[drifted["stale"].pk].version, new[drifted["stale"].pk].op) == (2, "upsert")
    assert (new[drifted["gone_late"].pk].version, new[drifted["gone_late"].pk].op) == (2, "delete")
    extra = new[drifted["extra"]]
    assert (extra.version, extra.op, extra.data["sku"]) == (4, "delete", "EXTRA")
    ahead = new[drifted["ahead"].pk]
    assert (ahead.version, ahead.op) == (6, "upsert")
    assert Product.objects.get(pk=drifted["ahead"].pk).version == 6
    assert set(new) == {
        drifted[k] if k == "extra" else drifted[k].pk for k in ("missing", "stale", "gone_late", "extra", "ahead")
    }


def test_changes_on_their_way_are_not_differences(fake_catalog) -> None:
    published_just_now = make_product()
    OutboxEvent.objects.update(published_at=timezone.now())
    still_pending = make_product()

    check = run_drift_check()

    assert check.ok
    assert check.in_flight == 2
    assert check.missing == 0
    assert {published_just_now.pk, still_pending.pk}.isdisjoint(check.sample.get("missing", []))


def test_an_unreachable_catalog_is_stored_and_the_command_fails(settings) -> None:
    make_product()
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("check_drift", stdout=StringIO())
    check = DriftCheck.objects.get()
    assert not check.ok
    assert "cannot be reached" in check.error


def test_check_drift_command_reports_and_repairs(drifted) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="5 differences"):
        call_command("check_drift", stdout=out)
    assert "missing: 1" in out.getvalue()
    assert "extra: 1" in out.getvalue()

    out = StringIO()
    call_command("check_drift", "--repair", stdout=out)
    assert "repaired: 5" in out.getvalue()
    assert DriftCheck.objects.count() == 2


def test_the_periodic_check_stores_a_relay_run_once_per_interval(fake_catalog) -> None:
    make_product()
    age_outbox()
    periodic = PeriodicDriftCheck(interval=300, repair_found=False)

    first = periodic.run_once()
    assert first is not None
    assert first.trigger == "relay"
    assert first.missing == 1
    assert periodic.run_once() is None  # another run within the interval is skipped
    assert DriftCheck.objects.count() == 1


def test_the_periodic_check_runs_in_a_thread_by_itself(fake_catalog, transactional_db) -> None:
    make_product()
    periodic = PeriodicDriftCheck(interval=0.2, repair_found=False)
    periodic.start()
    try:
        wait_until(lambda: DriftCheck.objects.filter(trigger="relay").exists(), timeout=10, what="a periodic run")
    finally:
        periodic.stop()
    assert not periodic._thread.is_alive()


# --- drift check by range checksums ---------------------------------------------------------


@pytest.fixture
def many_agreeing(fake_catalog, monkeypatch):
    """300 products the catalog holds at the same version, nothing in flight; the id space
    cut into 4 ranges, a differing one into 4, down to ranges of at most 8 products."""
    monkeypatch.setattr("sync.drift.ROOT_PARTS", 4)
    monkeypatch.setattr("sync.drift.FANOUT", 4)
    products = [make_product() for _ in range(300)]
    age_outbox()
    for p in products:
        fake_catalog.hold(p.pk, p.version)
    return products


def test_agreeing_sides_are_settled_by_checksums_alone(many_agreeing) -> None:
    diff = find_differences(grace_seconds=0, leaf_rows=8)

    assert diff.total() == 0
    assert (diff.admin_products, diff.catalog_products) == (300, 300)
    assert diff.pairs_read == 0  # the admin's SQL sums equal the catalog's: no pair is shipped
    # Only the root's parts that hold products are compared (ids depend on earlier tests).
    top = max(p.pk for p in many_agreeing) + 1
    step = step_of(0, top, 4)
    assert diff.ranges_compared == len({p.pk // step for p in many_agreeing}) <= 4


def test_planted_differences_of_each_kind_are_found_by_descending_only_where_sums_differ(
    many_agreeing, fake_catalog
) -> None:
    products = many_agreeing
    missing, stale, ahead = products[7].pk, products[150].pk, products[299].pk
    product_update(product_id=stale, data={"title": "stale v2"})
    gone = products[60].pk
    product_delete(product_id=gone)  # v2 delete; the catalog still shows v1 live: stale
    old_delete = products[200].pk
    product_delete(product_id=old_delete)  # v2 delete; the catalog holds a v1 tombstone: stale
    age_outbox()
    del fake_catalog.rows[missing]
    fake_catalog.hold(ahead, 4)
    fake_catalog.hold(old_delete, 1, deleted=True)
    extra_inside, extra_beyond = products[100].pk + 10_000, products[-1].pk + 50_000
    for extra in (extra_inside, extra_beyond):
        fake_catalog.hold(
            extra, 2, data={"sku": "X", "title": "x", "description": "", "price": "1.00", "image_url": ""}
        )

    diff = find_differences(grace_seconds=0, leaf_rows=8)

    found = {kind: sorted(diff.found[kind]) for kind in KINDS}
    assert found == {
        "missing": [missing],
        "stale": sorted([stale, gone, old_delete]),
        "extra": sorted([extra_inside, extra_beyond]),
        "ahead": [ahead],
    }
    # The same answer as reading every pair, for a fraction of the pairs.
    every_pair = find_differences(grace_seconds=0, by_ranges=False)
    assert found == {kind: sorted(every_pair.found[kind]) for kind in KINDS}
    assert every_pair.pairs_read >= 300
    assert diff.pairs_read <= 8 * 6 + 1, diff.pairs_read  # about one range of 8 per difference


def test_range_differences_are_repaired_through_the_versioned_path(many_agreeing, fake_catalog) -> None:
    stale = many_agreeing[42]
    product_update(product_id=stale.pk, data={"title": "stale v2"})
    age_outbox()
    before = OutboxEvent.objects.count()

    check = run_drift_check(repair_found=True, grace_seconds=0)

    assert (check.stale, check.repaired, check.ok) == (1, 1, True)
    resent = OutboxEvent.objects.order_by("id")[before:]
    assert [(e.product_id, e.version, e.op) for e in resent] == [(stale.pk, 2, "upsert")]


@pytest.mark.parametrize(
    "part",
    [
        {"lo": 3, "hi": 99, "rows": 1, "checksum": "1"},  # off the requested grid
        {"lo": 0, "hi": 1, "rows": 5, "checksum": "1"},  # more rows than ids in the range
        {"lo": 0, "hi": 1, "rows": 1, "checksum": 7},
    ],
)
def test_checksum_parts_off_the_requested_grid_are_not_believed(fake_catalog, part) -> None:
    make_product()
    age_outbox()
    fake_catalog.answers["/api/sync/checksums/"] = {"parts": [part], "max_id": 1}

    check = run_drift_check(grace_seconds=0)

    assert not check.ok
    assert "malformed answer" in check.error
