from rest_framework import serializers

from products.models import Product


class ProductSerializer(serializers.ModelSerializer[Product]):
    sync_state = serializers.CharField(read_only=True)
    # The version the catalog holds (null: none, or the catalog was not asked or cannot be reached).
    catalog_version = serializers.IntegerField(read_only=True, allow_null=True, default=None)

    class Meta:
        model = Product
        fields = (
            "id",
            "sku",
            "title",
            "description",
            "price",
            "image_url",
            "is_active",
            "version",
            "sync_state",
            "catalog_version",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "version", "sync_state", "catalog_version", "created_at", "updated_at")
