from rest_framework import serializers

from catalog.models import CatalogProduct


class CatalogProductSerializer(serializers.ModelSerializer[CatalogProduct]):
    id = serializers.IntegerField(source="product_id", read_only=True)

    class Meta:
        model = CatalogProduct
        fields = ("id", "sku", "title", "description", "price", "image_url", "is_active", "version", "applied_at")
        read_only_fields = fields
