"""Products as staff edit them, and the outbox of their changes.

Write through ``products.services`` only: it bumps ``version`` and records the
outbox event in the same transaction.
"""

import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from sync_contract.events import IMAGE_URL_MAX, PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS, SKU_MAX, TITLE_MAX


class Product(models.Model):
    sku = models.CharField(max_length=SKU_MAX, unique=True)
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, validators=[MinValueValidator(0)]
    )
    image_url = models.URLField(max_length=IMAGE_URL_MAX, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # Grows by one on every change, delete included; the catalog applies an event
    # only if its version is newer than the one it holds.
    version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.title}"


class OutboxEvent(models.Model):
    """One product change waiting for (or done with) its trip to the broker."""

    class Op(models.TextChoices):
        UPSERT = "upsert"
        DELETE = "delete"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No foreign key: the event of a delete outlives its product.
    product_id = models.BigIntegerField(db_index=True)
    version = models.PositiveBigIntegerField()
    op = models.CharField(max_length=6, choices=Op.choices)
    data = models.JSONField()
    occurred_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's claim query reads only pending rows, in id order.
            models.Index(fields=["id"], name="outbox_pending", condition=Q(published_at__isnull=True)),
            models.Index(fields=["published_at"], name="outbox_published",
                         condition=Q(published_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.op} product {self.product_id} v{self.version}"

    @property
    def state(self) -> str:
        if self.published_at is not None:
            return "published"
        return "failed" if self.attempts else "pending"
