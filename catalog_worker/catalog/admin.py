from django.contrib import admin

from catalog.models import CatalogProduct, DeadLetterNote


@admin.register(CatalogProduct)
class CatalogProductAdmin(admin.ModelAdmin):
    """Read-only: the catalog is written by the sync worker alone."""

    list_display = ("product_id", "sku", "title", "price", "is_active", "version", "deleted", "applied_at")
    list_filter = ("deleted", "is_active")
    search_fields = ("sku", "title", "=product_id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeadLetterNote)
class DeadLetterNoteAdmin(admin.ModelAdmin):
    """Reasons the worker recorded for bodies it could not decode (see the dead-letter page)."""

    list_display = ("key", "reason", "content_type", "created_at")
    search_fields = ("=key",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
