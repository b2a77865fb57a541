"""The catalog's copy of the products, written only by ``catalog.services``."""

from django.db import models

from sync_contract.events import IMAGE_URL_MAX, PRICE_DECIMAL_PLACES, PRICE_MAX_DIGITS, SKU_MAX, TITLE_MAX


class CatalogProduct(models.Model):
    # The admin's product id: /api/products/<id>/ names the same product on both sides.
    product_id = models.BigIntegerField(primary_key=True)
    # Not unique here: events arrive in any order, so two products may briefly
    # hold the same sku (one renamed away, the other renamed to it).
    sku = models.CharField(max_length=SKU_MAX, db_index=True)
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
        indexes = [models.Index(fields=["product_id"], name="catalog_live", condition=models.Q(deleted=False))]

    def __str__(self) -> str:
        return f"{self.product_id} {self.sku} v{self.version}{' (deleted)' if self.deleted else ''}"
