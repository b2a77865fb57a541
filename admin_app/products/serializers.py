from rest_framework import serializers

from products.models import Product


class ProductSerializer(serializers.ModelSerializer):
    sync_state = serializers.CharField(read_only=True)

    class Meta:
        model = Product
        fields = (
            "id", "sku", "title", "description", "price", "image_url", "is_active",
            "version", "sync_state", "created_at", "updated_at",
        )
        read_only_fields = ("id", "version", "sync_state", "created_at", "updated_at")
