"""The catalog's public read API: live products with their version, throttled, paged by cursor."""

from rest_framework import viewsets

from catalog.api_access import ProductCursor, PublicThrottle
from catalog.models import CatalogProduct
from catalog.serializers import CatalogProductSerializer


class CatalogProductViewSet(viewsets.ReadOnlyModelViewSet[CatalogProduct]):
    serializer_class = CatalogProductSerializer
    pagination_class = ProductCursor
    throttle_classes = [PublicThrottle]
    queryset = CatalogProduct.objects.filter(deleted=False).order_by("product_id")
