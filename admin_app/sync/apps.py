from django.apps import AppConfig


class SyncConfig(AppConfig):
    """Everything after a product change is committed: relay, publisher, drift check, health."""

    name = "sync"
    verbose_name = "Product sync"

    def ready(self) -> None:
        from celery import current_app

        from products import selectors
        from sync import catalog_client
        from sync_contract import checks

        checks.register(current_app, declares=False)
        # The product list shows "applied" from the catalog's answer (products never imports sync).
        selectors.use_catalog_versions(catalog_client.versions_or_none)
