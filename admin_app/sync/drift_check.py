"""Running the drift check (sync.drift finds the differences): repair, record, repeat.

Repair re-sends, through the outbox like every change: a resync (current state and
version) for missing and stale products; the delete event again for deleted ones;
a tombstone at the catalog's version + 1 for extra ones (with the catalog's data);
a version bump above the catalog's for ahead ones, so that the admin's state wins.
Every run is stored as a DriftCheck, with its error if it could not finish.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from products.models import OutboxEvent, Product
from products.selectors import HeldVersion
from products.services import PRODUCT_FIELDS, product_bump_version, product_resync, product_send_tombstone
from sync import catalog_client
from sync.catalog_client import CatalogUnavailable
from sync.drift import KINDS, Differences, find_differences
from sync.models import DriftCheck
from sync_contract.broker import queue_depth
from sync_contract.names import SYNC_QUEUE

logger = logging.getLogger("sync.drift")

# The most an "ahead" repair moves a product's version up in one go (see run_drift_check).
MAX_JUMP = 1_000_000
SAMPLE_SIZE = 20
# pg_try_advisory_lock key: one periodic drift check at a time across relays.
ADVISORY_LOCK_KEY = 7_277_001


def repair(diff: Differences) -> int:
    """Re-send what differs (see the module docstring); returns how many products were re-sent."""
    repaired = 0
    deletes = {
        e.product_id: e
        for e in OutboxEvent.objects.filter(
            op=OutboxEvent.Op.DELETE,
            product_id__in=[
                pid
                for kind in KINDS
                for pid, (admin, _) in diff.found[kind].items()
                if admin is not None and admin.deleted
            ],
        ).order_by("version")
    }
    # missing and stale products have an admin side, extra ones a catalog side, ahead ones both.
    live_resend = [
        pid
        for kind in ("missing", "stale")
        for pid, (admin, _) in diff.found[kind].items()
        if admin is not None and not admin.deleted
    ]
    for start in range(0, len(live_resend), 1000):
        repaired += product_resync(product_ids=live_resend[start : start + 1000])
    for kind in ("missing", "stale"):
        for pid, (admin, _held) in diff.found[kind].items():
            if admin is not None and admin.deleted and pid in deletes:
                event = deletes[pid]
                product_send_tombstone(product_id=pid, version=event.version, data=event.data)
                repaired += 1
    for pid, (_admin, held) in diff.found["extra"].items():
        if held is not None:
            repaired += _tombstone_from_catalog(pid, held, fallback=None)
    for pid, (admin, held) in diff.found["ahead"].items():
        if admin is None or held is None:
            continue
        if admin.deleted:
            fallback = deletes[pid].data if pid in deletes else None
            repaired += _tombstone_from_catalog(pid, held, fallback=fallback)
        else:
            try:
                product_bump_version(product_id=pid, above=held.version)
                repaired += 1
            except Product.DoesNotExist:
                continue  # deleted meanwhile: its delete event is on its way
    return repaired


def _tombstone_from_catalog(pid: int, held: HeldVersion, *, fallback: dict[str, Any] | None) -> int:
    shown = catalog_client.product(pid)
    data = {f: shown[f] for f in PRODUCT_FIELDS} if shown else fallback
    if data is None:
        return 0  # no longer live in the catalog: nothing to hide
    product_send_tombstone(product_id=pid, version=held.version + 1, data=data)
    return 1


def run_drift_check(
    *,
    repair_found: bool = False,
    trigger: str = "command",
    grace_seconds: float | None = None,
    page_size: int = catalog_client.PAGE_SIZE,
    by_ranges: bool = True,
) -> DriftCheck:
    """Compare, optionally repair, and store the run as a DriftCheck."""
    grace = settings.DRIFT_GRACE_SECONDS if grace_seconds is None else grace_seconds
    check = DriftCheck(ran_at=timezone.now(), trigger=trigger)
    try:
        diff = find_differences(grace_seconds=grace, page_size=page_size, by_ranges=by_ranges)
    except CatalogUnavailable as exc:
        check.error = f"the catalog cannot be reached: {exc}"
        check.finished_at = timezone.now()
        check.save()
        logger.warning("drift check (%s): %s", trigger, check.error)
        return check
    check.admin_products, check.catalog_products = diff.admin_products, diff.catalog_products
    for kind in KINDS:
        setattr(check, kind, len(diff.found[kind]))
    check.in_flight = diff.in_flight
    check.sample = {kind: sorted(diff.found[kind])[:SAMPLE_SIZE] for kind in KINDS if diff.found[kind]}
    # A catalog claiming a version far above the admin's is not believed: bumping the admin
    # above it could push the product's version to the bigint limit. Reported, not repaired.
    absurd = sorted(pid for pid, (a, h) in diff.found["ahead"].items() if a and h and h.version - a.version > MAX_JUMP)
    for pid in absurd:
        del diff.found["ahead"][pid]
    if repair_found and diff.total():
        try:
            with transaction.atomic():
                check.repaired = repair(diff)
        except CatalogUnavailable as exc:
            check.error = f"repair stopped, the catalog cannot be reached: {exc}"
        except Exception as exc:  # recorded whatever happens: the run is the operator's evidence
            logger.exception("drift repair failed")
            check.error = f"repair failed: {type(exc).__name__}: {exc}"[:2000]
    if absurd:
        check.error = (
            f"{check.error} " if check.error else ""
        ) + f"not repaired: the catalog claims versions more than {MAX_JUMP} ahead of the admin for {absurd[:10]}"
    check.ok = not check.error and (diff.total() == 0 or check.repaired == diff.total())
    check.finished_at = timezone.now()
    check.save()
    log = logger.info if diff.total() == 0 else logger.warning
    log(
        "drift check (%s): admin=%d catalog=%d missing=%d stale=%d extra=%d ahead=%d in_flight=%d repaired=%d"
        " ranges=%d pairs=%d",
        trigger,
        check.admin_products,
        check.catalog_products,
        check.missing,
        check.stale,
        check.extra,
        check.ahead,
        check.in_flight,
        check.repaired,
        diff.ranges_compared,
        diff.pairs_read,
    )
    return check


class PeriodicDriftCheck:
    """Runs the drift check every DRIFT_CHECK_INTERVAL seconds in a daemon thread of the relay.

    The thread has its own database connection (Django's are per thread) and its
    own broker connection, so a slow catalog or a long comparison never holds up
    publishing. Across several relays a PostgreSQL advisory lock and the time of the
    last stored run keep it to about one run per interval. It repairs (DRIFT_CHECK_REPAIR)
    only while the sync queue is idle (no ready message, a consumer attached):
    otherwise a difference may just be waiting in the queue, and re-sending it would
    only add duplicates.
    """

    def __init__(self, *, interval: float, repair_found: bool) -> None:
        self.interval = interval
        self.repair_found = repair_found
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls) -> PeriodicDriftCheck:
        return cls(interval=settings.DRIFT_CHECK_INTERVAL, repair_found=settings.DRIFT_CHECK_REPAIR)

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="drift-check", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                logger.exception("periodic drift check failed")
            finally:
                connection.close()  # this thread's connection; none is held between runs

    def run_once(self) -> DriftCheck | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            if not cursor.fetchone()[0]:
                return None
        try:
            last = DriftCheck.objects.filter(trigger="relay").values_list("ran_at", flat=True).first()
            if last is not None and last > timezone.now() - timedelta(seconds=self.interval * 0.9):
                return None  # another relay ran it
            return run_drift_check(repair_found=self.repair_found and sync_queue_idle(), trigger="relay")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def sync_queue_idle() -> bool:
    depth = queue_depth(current_app, SYNC_QUEUE)
    return depth is not None and depth.messages == 0 and depth.consumers > 0
