"""Products as staff edit them, and the outbox of their changes.

Write through ``products.services`` only: it bumps ``version`` and records the
outbox event in the same transaction.
"""

import uuid

from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import HashIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinValueValidator, ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q

from sync_contract.events import (
    DESCRIPTION_MAX,
    IMAGE_URL_MAX,
    PRICE_DECIMAL_PLACES,
    PRICE_MAX_DIGITS,
    SKU_MAX,
    TITLE_MAX,
)


def not_blank(value: str) -> None:
    """Refuse a value of spaces only (the contract requires a sku and a title)."""
    if not value.strip():
        raise ValidationError("This field cannot be blank.", code="blank")


# Every change the admin accepts must pass the contract's validation in the catalog
# worker, or its event would be dead-lettered and the change never applied: the fields
# carry the contract's limits (lengths, no NUL character, no blank sku or title), so
# the admin, the API and the service layer refuse such a value with a field error.
class Product(models.Model):
    sku = models.CharField(max_length=SKU_MAX, unique=True, validators=[not_blank, ProhibitNullCharactersValidator()])
    title = models.CharField(max_length=TITLE_MAX, validators=[not_blank, ProhibitNullCharactersValidator()])
    description = models.TextField(
        blank=True, default="", validators=[MaxLengthValidator(DESCRIPTION_MAX), ProhibitNullCharactersValidator()]
    )
    price = models.DecimalField(
        max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, validators=[MinValueValidator(0)]
    )
    image_url = models.URLField(
        max_length=IMAGE_URL_MAX, blank=True, default="", validators=[ProhibitNullCharactersValidator()]
    )
    is_active = models.BooleanField(default=True)
    # Grows by one on every change, delete included; the catalog applies an event
    # only if its version is newer than the one it holds.
    version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not columns: set by products.selectors.attach_catalog_state on the products it shows.
    outbox_state: str
    catalog_known: bool
    catalog_version: int | None

    class Meta:
        ordering = ["-updated_at", "-id"]
        # Re-sending the current state to the catalog (admin action, beside add/change/delete).
        permissions = [("resync_product", "Can resend products to the catalog")]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.title}"


class OutboxEvent(models.Model):
    """One product change waiting for (or done with) its trip to the broker."""

    class Op(models.TextChoices):
        UPSERT = "upsert"
        DELETE = "delete"

    # Random (uuid4 / gen_random_uuid): unique without a unique index. A hash index serves
    # the lookups by id; a btree of random keys slows the relay's claim, which rewrites
    # every row (docs/decisions/0008-outbox-indexes.md).
    event_id = models.UUIDField(default=uuid.uuid4, db_default=RandomUUID(), editable=False)
    # No foreign key: the event of a delete outlives its product.
    product_id = models.BigIntegerField(db_index=True)
    version = models.PositiveBigIntegerField()
    op = models.CharField(max_length=6, choices=Op.choices)
    data = models.JSONField()
    occurred_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    last_error = models.TextField(blank=True, default="", db_default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's claim query reads only pending rows, in id order.
            models.Index(fields=["id"], name="outbox_pending", condition=Q(published_at__isnull=True)),
            models.Index(fields=["published_at"], name="outbox_published", condition=Q(published_at__isnull=False)),
            HashIndex(fields=["event_id"], name="outbox_event_id"),
        ]

    def __str__(self) -> str:
        return f"{self.op} product {self.product_id} v{self.version}"

    @property
    def state(self) -> str:
        if self.published_at is not None:
            return "published"
        return "failed" if self.attempts else "pending"
