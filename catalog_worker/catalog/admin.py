from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from catalog.models import CatalogProduct, DeadLetterNote

if TYPE_CHECKING:  # ModelAdmin is generic in django-stubs only: Django's class takes no type parameter
    CatalogProductModelAdmin = admin.ModelAdmin[CatalogProduct]
    DeadLetterNoteModelAdmin = admin.ModelAdmin[DeadLetterNote]
else:
    CatalogProductModelAdmin = DeadLetterNoteModelAdmin = admin.ModelAdmin


@admin.register(CatalogProduct)
class CatalogProductAdmin(CatalogProductModelAdmin):
    """Read-only: the catalog is written by the sync worker alone."""

    list_display = ("product_id", "sku", "title", "price", "is_active", "version", "deleted", "applied_at")
    list_filter = ("deleted", "is_active")
    search_fields = ("sku", "title", "=product_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CatalogProduct | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CatalogProduct | None = None) -> bool:
        return False


@admin.register(DeadLetterNote)
class DeadLetterNoteAdmin(DeadLetterNoteModelAdmin):
    """Reasons the worker recorded for bodies it could not decode (see the dead-letter page)."""

    list_display = ("key", "reason", "content_type", "created_at")
    search_fields = ("=key",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetterNote | None = None) -> bool:
        return False
