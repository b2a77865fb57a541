"""The catalog's public read API: live products with their version."""

from rest_framework import viewsets

from catalog.models import CatalogProduct
from catalog.serializers import CatalogProductSerializer


class CatalogProductViewSet(viewsets.ReadOnlyModelViewSet[CatalogProduct]):
    serializer_class = CatalogProductSerializer
    queryset = CatalogProduct.objects.filter(deleted=False).order_by("product_id")
