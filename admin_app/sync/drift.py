"""The drift check: do the catalog and the admin agree on ``(product_id, version)``?

Each database first sums a checksum of its live ``(product_id, version)`` pairs per id
range (sync_contract.checksums); only ranges whose sums differ are cut further, and in
the small ranges that still differ both sides are read in product_id order and merged:
the admin's products (plus the products it deleted, from the delete events the outbox
still holds: published rows are pruned after OUTBOX_RETENTION_HOURS) against the
catalog's rows, tombstones included, from its versions endpoint. The deleted products
the outbox remembers are compared one by one (tombstones are not in the sums).
Differences:

- missing: the admin has the product (or its delete), the catalog has no row;
- stale: the catalog holds an older version;
- extra: live in the catalog, unknown to the admin (deleted longer ago than the
  outbox keeps delete events, and the delete never arrived);
- ahead: the catalog holds a newer version than the admin (e.g. an admin database
  restored from a backup).

A difference whose product has an unpublished event, or one published less than
DRIFT_GRACE_SECONDS ago, is on its way and counted as ``in_flight`` only; that set
is read after both sides, so an edit made during the check is never a difference.

Repair re-sends, through the outbox like every change: a resync (current state and
version) for missing and stale products; the delete event again for deleted ones;
a tombstone at the catalog's version + 1 for extra ones (with the catalog's data);
a version bump above the catalog's for ahead ones, so that the admin's state wins.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from products.models import OutboxEvent, Product
from products.selectors import HeldVersion
from products.services import PRODUCT_FIELDS, product_bump_version, product_resync, product_send_tombstone
from sync import catalog_client
from sync.catalog_client import CatalogUnavailable
from sync.models import DriftCheck
from sync.sql import RANGE_SUMS_SQL
from sync_contract.broker import queue_depth
from sync_contract.checksums import range_sums, step_of
from sync_contract.names import SYNC_QUEUE

logger = logging.getLogger(__name__)

ADMIN_PAGE = 5000
# Range checksums: the whole id space is cut into ROOT_PARTS ranges, a differing range
# into FANOUT, until one holds at most LEAF_ROWS products; then its pairs are compared
# (docs/decisions/0023-range-checksums.md: about 1,000 rows a range at 1,000,000 products).
ROOT_PARTS = 1024
FANOUT = 16
LEAF_ROWS = 2000
# A catalog whose answers would have the descent compare more ranges than this is not
# believed (a million is 1,000,000,000 products cut as above).
MAX_RANGES = 1_000_000
# The most an "ahead" repair moves a product's version up in one go (see run_drift_check).
MAX_JUMP = 1_000_000
SAMPLE_SIZE = 20
KINDS = ("missing", "stale", "extra", "ahead")
# pg_try_advisory_lock key: one periodic drift check at a time across relays.
ADVISORY_LOCK_KEY = 7_277_001


@dataclass
class Differences:
    admin_products: int = 0
    catalog_products: int = 0
    # product_id -> (admin side or None, catalog side or None)
    found: dict[str, dict[int, tuple[HeldVersion | None, HeldVersion | None]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    in_flight: int = 0
    ranges_compared: int = 0  # checksum ranges compared
    pairs_read: int = 0  # (product_id, version) pairs read from the catalog

    def total(self) -> int:
        return sum(len(v) for v in self.found.values())


def _admin_rows(deleted: dict[int, int], *, lo: int = 0, hi: int | None = None) -> Iterator[tuple[int, HeldVersion]]:
    """Live products with ids in [lo, hi) (paged by id) merged with deleted ones, in id order."""
    pending_deleted = sorted(deleted.items())
    d = 0
    after = lo - 1
    live = Product.objects.all() if hi is None else Product.objects.filter(pk__lt=hi)
    while True:
        page = list(live.filter(pk__gt=after).order_by("pk").values_list("pk", "version")[:ADMIN_PAGE])
        for pk, version in page:
            while d < len(pending_deleted) and pending_deleted[d][0] < pk:
                yield pending_deleted[d][0], HeldVersion(pending_deleted[d][1], True)
                d += 1
            yield pk, HeldVersion(version, False)
        if len(page) < ADMIN_PAGE:
            break
        after = page[-1][0]
    for pid, version in pending_deleted[d:]:
        yield pid, HeldVersion(version, True)


def _deleted_in_outbox() -> dict[int, int]:
    """product_id -> version of its delete, for deleted products the outbox still remembers."""
    rows = OutboxEvent.objects.filter(op=OutboxEvent.Op.DELETE).values("product_id").annotate(v=Max("version"))
    deleted = {r["product_id"]: r["v"] for r in rows}
    live = set(Product.objects.filter(pk__in=list(deleted)).values_list("pk", flat=True))
    return {pid: v for pid, v in deleted.items() if pid not in live}


def _classify(admin: HeldVersion | None, held: HeldVersion | None) -> str | None:
    if admin is None:
        return "extra" if held is not None and not held.deleted else None
    if held is None:
        return "missing"
    if held.version < admin.version:
        return "stale"
    if held.version > admin.version:
        # A tombstone above a delete's version still hides the product: nothing to fix.
        return None if admin.deleted and held.deleted else "ahead"
    if held.deleted != admin.deleted:
        return "ahead"  # same version, other op: only a higher version can settle it
    return None


def _in_flight(grace_seconds: float) -> set[int]:
    since = timezone.now() - timedelta(seconds=grace_seconds)
    unpublished = OutboxEvent.objects.filter(published_at__isnull=True).values_list("product_id", flat=True)
    recent = OutboxEvent.objects.filter(published_at__gte=since).values_list("product_id", flat=True)
    return set(unpublished) | set(recent)


def _merge(
    diff: Differences,
    admin_iter: Iterator[tuple[int, HeldVersion]],
    catalog_iter: Iterator[tuple[int, HeldVersion]],
    *,
    count: bool,
) -> None:
    """Walk both sides in id order and record each difference (and, if ``count``, the live rows)."""
    a = next(admin_iter, None)
    c = next(catalog_iter, None)
    while a is not None or c is not None:
        # The lower product id of the two sides; a side that holds it moves on.
        pid = min(side[0] for side in (a, c) if side is not None)
        admin: HeldVersion | None = None
        held: HeldVersion | None = None
        if a is not None and a[0] == pid:
            admin = a[1]
            a = next(admin_iter, None)
        if c is not None and c[0] == pid:
            held = c[1]
            c = next(catalog_iter, None)
            diff.pairs_read += 1
        if count:
            diff.admin_products += admin is not None and not admin.deleted
            diff.catalog_products += held is not None and not held.deleted
        kind = _classify(admin, held)
        if kind is not None:
            diff.found[kind][pid] = (admin, held)


def _descend(
    diff: Differences, *, lo: int, hi: int, parts: int, leaf_rows: int, top: bool = False
) -> tuple[list[tuple[int, int]], int | None]:
    """The id ranges within [lo, hi) whose live rows differ, each holding at most ``leaf_rows``
    on either side (or one id wide), and the catalog's highest product id.

    Both sides sum [lo, hi) cut into ``parts`` inside their databases; a part whose
    checksums agree is done, one that differs is cut again into FANOUT parts.
    """
    step = step_of(lo, hi, parts)
    with connection.cursor() as cursor:
        cursor.execute(RANGE_SUMS_SQL, {"lo": lo, "hi": hi, "step": step})
        ours = {s.lo: s for s in range_sums(cursor.fetchall(), lo=lo, hi=hi, step=step)}
    catalog_sums, max_id = catalog_client.range_sums(lo=lo, hi=hi, parts=parts)
    theirs = {s.lo: s for s in catalog_sums}
    if top:
        diff.admin_products += sum(s.rows for s in ours.values())
        diff.catalog_products += sum(s.rows for s in theirs.values())
    leaves: list[tuple[int, int]] = []
    for start in sorted(ours.keys() | theirs.keys()):
        diff.ranges_compared += 1
        if diff.ranges_compared > MAX_RANGES:
            raise CatalogUnavailable(f"more than {MAX_RANGES} id ranges differ: the catalog's sums are not believed")
        mine, held = ours.get(start), theirs.get(start)
        if mine is not None and held is not None and mine.checksum == held.checksum:
            continue
        end = mine.hi if mine is not None else held.hi if held is not None else start + 1
        rows = max(mine.rows if mine else 0, held.rows if held else 0)
        if rows <= leaf_rows or end - start <= 1:
            leaves.append((start, end))
        else:
            leaves.extend(_descend(diff, lo=start, hi=end, parts=FANOUT, leaf_rows=leaf_rows)[0])
    return leaves, max_id


def _find_by_ranges(diff: Differences, deleted: dict[int, int], *, leaf_rows: int, page_size: int) -> None:
    """Checksums first; pairs only in the ranges that differ (docs/decisions/0023-range-checksums.md).

    The checksums cover live rows only, so the deleted products the outbox remembers are
    compared one by one (a tombstone's version is invisible to the sums).
    """
    top = max(Product.objects.aggregate(m=Max("pk"))["m"] or 0, max(deleted, default=0)) + 1
    leaves, catalog_max = _descend(diff, lo=0, hi=top, parts=ROOT_PARTS, leaf_rows=leaf_rows, top=True)
    if catalog_max is not None and catalog_max >= top:  # ids the admin never gave out: extra rows
        leaves += _descend(diff, lo=top, hi=catalog_max + 1, parts=ROOT_PARTS, leaf_rows=leaf_rows, top=True)[0]
    rest = dict(deleted)
    deleted_ids = sorted(deleted)
    for lo, hi in leaves:
        in_range = deleted_ids[bisect_left(deleted_ids, lo) : bisect_left(deleted_ids, hi)]
        inside = {pid: rest.pop(pid) for pid in in_range}  # leaves never overlap
        catalog_rows = catalog_client.all_versions(page_size=page_size, after=max(lo - 1, 0), before=hi)
        _merge(diff, _admin_rows(inside, lo=lo, hi=hi), catalog_rows, count=False)
    held = catalog_client.versions_of(rest)
    diff.pairs_read += len(held)
    for pid, version in sorted(rest.items()):
        kind = _classify(HeldVersion(version, True), held.get(pid))
        if kind is not None:
            diff.found[kind][pid] = (HeldVersion(version, True), held.get(pid))


def find_differences(
    *,
    grace_seconds: float,
    page_size: int = catalog_client.PAGE_SIZE,
    by_ranges: bool = True,
    leaf_rows: int = LEAF_ROWS,
) -> Differences:
    """Compare both sides; raises CatalogUnavailable if the catalog does not answer.

    ``by_ranges=False`` reads every pair from the catalog (the way before range checksums;
    kept as the reference the benchmark and tests compare against).
    """
    diff = Differences()
    deleted = _deleted_in_outbox()
    if by_ranges:
        _find_by_ranges(diff, deleted, leaf_rows=leaf_rows, page_size=page_size)
    else:
        _merge(diff, _admin_rows(deleted), catalog_client.all_versions(page_size=page_size), count=True)
    moving = _in_flight(grace_seconds)
    for kind in KINDS:
        for pid in [pid for pid in diff.found[kind] if pid in moving]:
            del diff.found[kind][pid]
            diff.in_flight += 1
    return diff


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
