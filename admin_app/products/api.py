"""The admin JSON API: staff only; writes go through the service layer."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import QuerySet
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import exception_handler as drf_exception_handler

from products.models import Product
from products.selectors import SYNC_STATES, attach_catalog_state, filter_by_sync_state, products_with_sync_state
from products.serializers import ProductSerializer
from products.services import product_create, product_delete, product_update

_Row = TypeVar("_Row")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus the service layer's own validation errors as 400s."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = ValidationError(detail)
    elif isinstance(exc, IntegrityError):
        # A race lost against a concurrent write (e.g. two creates with one sku).
        return Response({"non_field_errors": ["conflicting concurrent change; retry"]}, status.HTTP_409_CONFLICT)
    elif isinstance(exc, Product.DoesNotExist):
        return Response({"detail": "No Product matches the given query."}, status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)


class ProductViewSet(viewsets.ModelViewSet[Product]):
    """Products with their sync state; ``?sync_state=pending|failed|published|applied`` filters.

    Lists and single reads ask the catalog once per page which versions it holds
    ("applied"); writes answer from the outbox alone (a fresh change is pending).
    """

    serializer_class = ProductSerializer

    def get_queryset(self) -> QuerySet[Product]:
        return products_with_sync_state().order_by("id")

    def filter_queryset(self, queryset: QuerySet[Product, _Row]) -> QuerySet[Product, _Row]:
        queryset = super().filter_queryset(queryset)
        state = self.request.query_params.get("sync_state")
        if self.action == "list" and state:
            if state not in SYNC_STATES:
                raise ValidationError({"sync_state": [f"must be one of {', '.join(SYNC_STATES)}"]})
            queryset = filter_by_sync_state(queryset, state).queryset
        return queryset

    def paginate_queryset(self, queryset: QuerySet[Product, _Row]) -> list[_Row] | None:
        page = super().paginate_queryset(queryset)
        if page is not None:  # of products (a page of values() rows would have no state to show)
            attach_catalog_state(row for row in page if isinstance(row, Product))
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        attach_catalog_state([instance])
        return Response(self.get_serializer(instance).data)

    def perform_create(self, serializer: BaseSerializer[Product]) -> None:
        serializer.instance = product_create(data=dict(serializer.validated_data))

    def perform_update(self, serializer: BaseSerializer[Product]) -> None:
        product = serializer.instance
        if product is None:  # DRF's update() serialises the object it fetched
            raise TypeError("perform_update needs the serializer of an existing product")
        serializer.instance = product_update(product_id=product.pk, data=dict(serializer.validated_data))

    def perform_destroy(self, instance: Product) -> None:
        product_delete(product_id=instance.pk)

    def _respond_fresh(self, response: Response, pk: int) -> Response:
        # Re-read so version and sync_state reflect the write just committed.
        response.data = self.get_serializer(self.get_queryset().get(pk=pk)).data
        return response

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        return self._respond_fresh(response, response.data["id"])

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().update(request, *args, **kwargs)
        return self._respond_fresh(response, response.data["id"])
