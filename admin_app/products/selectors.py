"""Read-side queries for products: their sync state comes from the outbox."""

from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Subquery, Value, When

from products.models import OutboxEvent, Product

SYNC_STATES = ("pending", "failed", "published")


def products_with_sync_state() -> QuerySet[Product]:
    """Products annotated with ``sync_state`` and ``sync_error`` of their current version.

    pending: the event of this version is not yet confirmed by the broker;
    failed: publishing it failed at least once (``sync_error`` says why) and it
    will be retried; published: the broker confirmed it (or it was pruned after
    the retention period, long after publishing).
    """
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


def filter_by_sync_state(queryset: QuerySet[Product], state: str) -> QuerySet[Product]:
    if state not in SYNC_STATES:
        raise ValueError(f"unknown sync state {state!r}")
    return queryset.filter(Q(sync_state=state))
