from django.contrib import admin
from django.urls import include, path

from catalog.admin_views import dead_letter_page
from catalog.metrics import metrics
from sync_contract.health import broker_ready, database_ready, healthz, readyz_view

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer it.
    path("admin/dead-letters/", admin.site.admin_view(dead_letter_page), name="catalog-dead-letters"),
    path("admin/", admin.site.urls),
    path("api/", include("catalog.urls")),
    path("metrics", metrics, name="metrics"),
    # No login: liveness (the process serves) and readiness (database and broker answer).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz_view(database_ready, broker_ready), name="readyz"),
]
