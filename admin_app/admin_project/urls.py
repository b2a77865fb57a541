from django.contrib import admin
from django.urls import include, path
from sync.health import sync_health
from sync.metrics import metrics
from sync.relay_status import relay_heartbeat_ready

from sync_contract.health import broker_ready, database_ready, healthz, readyz_view

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer it. Staff only.
    path("admin/sync-health/", admin.site.admin_view(sync_health), name="sync-health"),
    path("admin/", admin.site.urls),
    path("api/", include("products.urls")),
    path("metrics", metrics, name="metrics"),
    # No login: liveness (the process serves) and readiness (database, broker, a live relay).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz_view(database_ready, broker_ready, relay_heartbeat_ready), name="readyz"),
]
