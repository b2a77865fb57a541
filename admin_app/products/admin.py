"""Django admin for product entry. Every save and delete, the bulk "delete selected"
action included, goes through ``products.services``."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from products.models import OutboxEvent, Product
from products.selectors import SYNC_STATES, filter_by_sync_state, products_with_sync_state
from products.services import PRODUCT_FIELDS, product_create, product_delete, product_delete_many, product_update


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = "sync_state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in SYNC_STATES]

    def queryset(self, request, queryset):
        if self.value() in SYNC_STATES:
            return filter_by_sync_state(queryset, self.value())
        return queryset


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "title", "price", "is_active", "version", "sync_state", "updated_at")
    list_filter = (SyncStateFilter, "is_active")
    search_fields = ("sku", "title")
    readonly_fields = ("version", "sync_state", "created_at", "updated_at")
    fields = (*PRODUCT_FIELDS, "version", "sync_state", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return products_with_sync_state()

    @admin.display(description="sync state")
    def sync_state(self, obj: Product) -> str:
        state = getattr(obj, "sync_state", None)
        if state is None:  # a fresh object, not from get_queryset
            return "-"
        error = getattr(obj, "sync_error", "")
        return f"{state}: {error}" if state == "failed" and error else state

    def save_model(self, request, obj: Product, form, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in PRODUCT_FIELDS if field in form.cleaned_data}
        saved = product_update(product_id=obj.pk, data=data) if change else product_create(data=data)
        obj.pk, obj.version = saved.pk, saved.version

    def delete_model(self, request, obj: Product) -> None:
        product_delete(product_id=obj.pk)

    def delete_queryset(self, request, queryset: QuerySet[Product]) -> None:
        # The bulk "delete selected" action would otherwise delete rows in SQL,
        # with no version bump and no event: the catalog would never hear of it.
        product_delete_many(product_ids=list(queryset.values_list("pk", flat=True)))


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "product_id", "version", "op", "state", "attempts", "occurred_at", "published_at")
    list_filter = ("op",)
    search_fields = ("=product_id", "=event_id")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
