from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from catalog_project.celery_app import app
        from sync_contract import checks

        checks.register(app)
