"""The catalog's copy of the products, written only by ``catalog.services``."""

from django.db import models

from sync_contract.events import IMAGE_URL_MAX, PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS, SKU_MAX, TITLE_MAX


class CatalogProduct(models.Model):
    # The admin's product id: /api/products/<id>/ names the same product on both sides.
    product_id = models.BigIntegerField(primary_key=True)
    # Not unique here: events arrive in any order, so two products may briefly
    # hold the same sku (one renamed away, the other renamed to it). Not indexed
    # either: nothing looks products up by sku here, and every index costs each
    # upsert (the write path is the hot one).
    sku = models.CharField(max_length=SKU_MAX)
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES)
    image_url = models.CharField(max_length=IMAGE_URL_MAX, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # The admin version this row reflects; only a higher one may replace it.
    version = models.PositiveBigIntegerField()
    # A tombstone: the product was deleted at ``version``. Kept so that a late,
    # older upsert cannot bring it back.
    deleted = models.BooleanField(default=False)
    event_id = models.UUIDField()
    occurred_at = models.DateTimeField(help_text="When the admin committed this version.")
    applied_at = models.DateTimeField(help_text="When the catalog applied it.")

    class Meta:
        ordering = ["product_id"]
        indexes = [
            # The commit-to-applied lag of recent applies (health page, metrics) reads a
            # few minutes of applied_at. Costs one index entry per applied row.
            models.Index(fields=["applied_at"], name="catalog_applied_at"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.sku} v{self.version}{' (deleted)' if self.deleted else ''}"


class SyncCounter(models.Model):
    """Events applied and skipped as stale since the catalog began, for the metrics endpoint.

    One row per shard; a worker process adds its batch's counts to the row of its
    shard (pid modulo ``SHARDS``) in one statement, so concurrent workers rarely wait
    on each other's row lock. The metrics endpoint sums the rows.
    """

    SHARDS = 16

    shard = models.PositiveSmallIntegerField(primary_key=True)
    applied = models.PositiveBigIntegerField(default=0)
    skipped = models.PositiveBigIntegerField(default=0)
    batches = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"shard {self.shard}: applied {self.applied}, skipped {self.skipped}"


class DeadLetterNote(models.Model):
    """Why the worker rejected a message it could not even decode.

    A message the task rejected has its reason in django-celery-results, keyed by
    task id; an undecodable one never reaches a task, so the consumer writes it
    here, keyed by the message's ``id`` header (the task id) or, without one, by
    ``sha256:`` and the body's hash.
    """

    key = models.CharField(max_length=80, unique=True)
    reason = models.TextField()
    content_type = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        # The dead-letter page's actions (reading it takes view_deadletternote).
        permissions = [
            ("replay_dead_letters", "Can replay dead-lettered messages to the sync queue"),
            ("purge_dead_letters", "Can purge the dead-letter queue"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.reason[:60]}"
