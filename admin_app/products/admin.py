"""Django admin for product entry. Every save and delete, the bulk "delete selected"
action included, goes through ``products.services``.

Each product shows its sync state (pending / failed / published / applied, see
``products.selectors``); "applied" is asked of the catalog once per page shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import URLPattern, path

from products.admin_import import import_page
from products.models import OutboxEvent, Product
from products.selectors import SYNC_STATES, attach_catalog_state, filter_by_sync_state, products_with_sync_state
from products.services import (
    PRODUCT_FIELDS,
    product_create,
    product_delete,
    product_delete_many,
    product_resync,
    product_update,
)

if TYPE_CHECKING:  # ModelAdmin is generic in django-stubs only: Django's class takes no type parameter
    ProductModelAdmin = admin.ModelAdmin[Product]
    AnyModelAdmin = admin.ModelAdmin[Model]
else:
    ProductModelAdmin = AnyModelAdmin = admin.ModelAdmin


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = "sync_state"

    def lookups(self, request: HttpRequest, model_admin: AnyModelAdmin) -> Iterable[tuple[str, str]]:
        return [(state, state) for state in SYNC_STATES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        state = self.value()
        if state in SYNC_STATES:
            result = filter_by_sync_state(queryset, state)
            if result.note:
                messages.warning(request, result.note)
            return result.queryset
        return queryset


class CatalogStateChangeList(ChangeList):
    """After the page's rows are read, one catalog call tells which of them are applied."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if not attach_catalog_state(self.result_list):
            messages.warning(request, "The catalog cannot be reached: whether products are applied is unknown.")


@admin.register(Product)
class ProductAdmin(ProductModelAdmin):
    list_display = ("sku", "title", "price", "is_active", "version", "sync_state", "updated_at")
    list_filter = (SyncStateFilter, "is_active")
    search_fields = ("sku", "title")
    readonly_fields = ("version", "sync_state", "catalog_version", "created_at", "updated_at")
    fields = (*PRODUCT_FIELDS, "version", "sync_state", "catalog_version", "created_at", "updated_at")
    actions = ["resync_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return products_with_sync_state()

    def get_urls(self) -> list[URLPattern]:
        page = path("import/", self.admin_site.admin_view(import_page), name="products_product_import")
        return [page, *super().get_urls()]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CatalogStateChangeList

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Product | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            attach_catalog_state([obj])
        return obj

    @admin.display(description="sync state")
    def sync_state(self, obj: Product) -> str:
        state: str | None = getattr(obj, "sync_state", None)
        if state is None:  # a fresh object, not from get_queryset
            return "-"
        error = getattr(obj, "sync_error", "")
        if state == "failed" and error:
            return f"failed: {error}"
        if state == "published" and getattr(obj, "catalog_known", True) is False:
            return "published (catalog: unknown)"
        return state

    @admin.display(description="catalog version")
    def catalog_version(self, obj: Product) -> str:
        if getattr(obj, "catalog_known", None) is False:
            return "unknown (the catalog cannot be reached)"
        version = getattr(obj, "catalog_version", None)
        return "-" if version is None else str(version)

    def has_resync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("products.resync_product")

    @admin.action(description="Resync selected products to the catalog", permissions=["resync"])
    def resync_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        count = product_resync(product_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{count} product{'s' if count != 1 else ''} queued for resync: the relay re-sends the "
            "current state; the catalog applies it where it lags.",
            messages.SUCCESS,
        )

    def save_model(self, request: HttpRequest, obj: Product, form: ModelForm[Product], change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in PRODUCT_FIELDS if field in form.cleaned_data}
        saved = product_update(product_id=obj.pk, data=data) if change else product_create(data=data)
        obj.pk, obj.version = saved.pk, saved.version

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        product_delete(product_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        # The bulk "delete selected" action would otherwise delete rows in SQL,
        # with no version bump and no event: the catalog would never hear of it.
        product_delete_many(product_ids=list(queryset.values_list("pk", flat=True)))


class ReadOnlyAdmin(AnyModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "product_id", "version", "op", "state", "attempts", "occurred_at", "published_at")
    list_filter = ("op",)
    search_fields = ("=product_id", "=event_id")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
