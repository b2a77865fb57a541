from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from celery import current_app

        from sync_contract import checks

        checks.register(current_app, declares=True)
