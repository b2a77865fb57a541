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

Running it, repairing what it finds and recording the run: sync.drift_check.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.db.models import Max, Q
from django.utils import timezone

from products.models import OutboxEvent, Product
from products.selectors import HeldVersion
from sync import catalog_client
from sync.catalog_client import CatalogUnavailable
from sync.sql import RANGE_SUMS_SQL
from sync_contract.checksums import range_sums, step_of

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
KINDS = ("missing", "stale", "extra", "ahead")


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


def _in_flight(product_ids: list[int], grace_seconds: float) -> set[int]:
    """Those of ``product_ids`` with an event unpublished or published within the grace period.

    Asked for the differences only, ADMIN_PAGE ids a query: a million-event backlog is never read.
    """
    since = timezone.now() - timedelta(seconds=grace_seconds)
    moving_now = Q(published_at__isnull=True) | Q(published_at__gte=since)
    ids, moving = sorted(product_ids), set[int]()
    for start in range(0, len(ids), ADMIN_PAGE):
        events = OutboxEvent.objects.filter(moving_now, product_id__in=ids[start : start + ADMIN_PAGE])
        moving.update(events.values_list("product_id", flat=True))
    return moving


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
    moving = _in_flight([pid for kind in KINDS for pid in diff.found[kind]], grace_seconds)
    for kind in KINDS:
        for pid in [pid for pid in diff.found[kind] if pid in moving]:
            del diff.found[kind][pid]
            diff.in_flight += 1
    return diff
