from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Products"

    def ready(self) -> None:
        from admin_project.celery_app import app
        from sync_contract import checks

        checks.register(app)
