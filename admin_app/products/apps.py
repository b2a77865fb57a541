from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """What staff edit: products, and the outbox event each change records."""

    name = "products"
    verbose_name = "Products"
