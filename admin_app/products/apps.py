from django.apps import AppConfig
from django.core import checks


class ProductsConfig(AppConfig):
    """What staff edit: products, and the outbox event each change records."""

    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        import products.schema  # noqa: F401  (registers the schema extension)
        from products.auth import check_throttle_settings

        checks.register(check_throttle_settings)
