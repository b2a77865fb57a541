"""Read-side queries for products and their sync state.

A product's sync state is one of:

- pending: the event of its current version is not yet confirmed by the broker;
- failed: publishing that event failed at least once (``sync_error`` says why); the
  relay keeps retrying;
- published: the broker confirmed it (or it was pruned after the retention period),
  and the catalog does not (yet) hold this version, or cannot be asked;
- applied: published, and the catalog holds this version or a newer one.

pending/failed/published come from the outbox, in SQL. "applied" comes from the
catalog service, asked over HTTP (by the source the sync app installs with
``use_catalog_versions``) for the products being shown: one call per page of
the admin list or the API (``attach_catalog_state``), never one per row. When the
catalog cannot answer, products keep their outbox state and ``catalog_known`` is
False ("unknown").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeAlias, TypedDict, TypeVar, cast

from django.db.models import Case, CharField, Exists, OuterRef, QuerySet, Subquery, Value, When

from products.models import OutboxEvent, Product

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class SyncAnnotations(TypedDict):
        sync_state: str
        sync_error: str | None

    # A product as products_with_sync_state reads it: annotated, and filterable by sync_state.
    ProductWithSyncState: TypeAlias = WithAnnotations[Product, SyncAnnotations]

SYNC_STATES = ("pending", "failed", "published", "applied")
# Filtering the whole table by published/applied asks the catalog about the most
# recently changed candidates only (in chunks of 1,000 ids per call): older products
# are all but certainly applied, and the drift check covers every product.
STATE_SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class HeldVersion:
    """The version one side (the admin or the catalog) holds of a product, and whether it is a delete."""

    version: int
    deleted: bool


# Product ids -> the catalog's versions of those it holds, or None when it cannot be asked.
CatalogVersions = Callable[[Iterable[int]], Mapping[int, HeldVersion] | None]


def _catalog_unknown(product_ids: Iterable[int]) -> None:
    return None


_catalog_versions: CatalogVersions = _catalog_unknown


def use_catalog_versions(source: CatalogVersions) -> None:
    """Install how the catalog is asked (the sync app does, at start-up)."""
    global _catalog_versions  # one source per process, set once in AppConfig.ready
    _catalog_versions = source


def products_with_sync_state() -> QuerySet[ProductWithSyncState]:
    """Products annotated with ``sync_state`` (from the outbox) and ``sync_error`` of their current version."""
    current = OutboxEvent.objects.filter(product_id=OuterRef("pk"), version=OuterRef("version"))
    unpublished = current.filter(published_at__isnull=True)
    return Product.objects.annotate(
        sync_state=Case(
            When(Exists(unpublished.filter(attempts__gt=0)), then=Value("failed")),
            When(Exists(unpublished), then=Value("pending")),
            default=Value("published"),
            output_field=CharField(),
        ),
        sync_error=Subquery(unpublished.values("last_error")[:1]),
    )


def combined_state(outbox_state: str, version: int, held: HeldVersion | None) -> str:
    """The state staff see: a published product is applied once the catalog holds this version
    (live) or a newer one. An unpublished event (pending, failed) wins: it still has to go out."""
    if outbox_state == "published" and held is not None and held.version >= version and not held.deleted:
        return "applied"
    return outbox_state


def attach_catalog_state(products: Iterable[Product]) -> bool:
    """Ask the catalog once about these products and set ``sync_state`` ("applied" where it
    holds the version), ``catalog_version`` and ``catalog_known`` on each. Returns whether
    the catalog answered."""
    # Each one has (or, if it was not read by products_with_sync_state, gets) a sync_state.
    shown = cast("list[ProductWithSyncState]", list(products))
    if not shown:
        return True
    held = _catalog_versions(p.pk for p in shown)
    for product in shown:
        outbox_state = getattr(product, "outbox_state", None) or getattr(product, "sync_state", None) or "published"
        product.outbox_state = outbox_state
        product.catalog_known = held is not None
        version = (held or {}).get(product.pk)
        product.catalog_version = version.version if version and not version.deleted else None
        product.sync_state = (
            combined_state(outbox_state, product.version, version) if held is not None else (outbox_state)
        )
    return held is not None


_Row = TypeVar("_Row")  # what the queryset yields: products, or values of them


@dataclass(frozen=True)
class StateFilter(Generic[_Row]):
    queryset: QuerySet[Product, _Row]
    note: str = ""  # what staff should know about the result (catalog unreachable, scan capped)


def filter_by_sync_state(
    queryset: QuerySet[Product, _Row], state: str, *, scan_limit: int = STATE_SCAN_LIMIT
) -> StateFilter[_Row]:
    """Products of ``queryset`` (annotated by ``products_with_sync_state``) in ``state``.

    pending/failed: SQL on the outbox, exact. published/applied: the outbox says
    "published" and the catalog is asked about the ``scan_limit`` most recently
    updated of those; only products it answered for are classified. If the catalog
    cannot answer, "published" lists every outbox-published product and "applied" none,
    with a note saying so.
    """
    if state not in SYNC_STATES:
        raise ValueError(f"unknown sync state {state!r}")
    annotated = _with_sync_state(queryset)
    if state in ("pending", "failed"):
        return StateFilter(annotated.filter(sync_state=state))
    published = annotated.filter(sync_state="published")
    candidates = list(published.order_by("-updated_at", "-id").values_list("pk", "version")[: scan_limit + 1])
    capped = len(candidates) > scan_limit
    candidates = candidates[:scan_limit]
    held = _catalog_versions(pk for pk, _ in candidates)
    if held is None:
        note = "The catalog cannot be reached: applied products cannot be told from published ones."
        return StateFilter(published if state == "published" else queryset.none(), note)
    applied = {pk for pk, version in candidates if combined_state("published", version, held.get(pk)) == "applied"}
    chosen = applied if state == "applied" else {pk for pk, _ in candidates} - applied
    note = (
        (
            f"Only the {scan_limit:,} most recently changed published products were checked against the catalog; "
            "`manage.py check_drift` compares every product."
        )
        if capped
        else ""
    )
    return StateFilter(queryset.filter(pk__in=chosen), note)


def _with_sync_state(queryset: QuerySet[Product, _Row]) -> QuerySet[ProductWithSyncState, _Row]:
    if "sync_state" not in queryset.query.annotations:
        raise ValueError("the queryset must come from products_with_sync_state()")
    return cast("QuerySet[ProductWithSyncState, _Row]", queryset)
