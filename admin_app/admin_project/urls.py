from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from sync.health import sync_health
from sync.metrics import metrics

from sync_contract.health import healthz

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer it. Staff only.
    path("admin/sync-health/", admin.site.admin_view(sync_health), name="sync-health"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema and its browsable page: staff only (SPECTACULAR_SETTINGS).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("products.urls")),
    path("metrics", metrics, name="metrics"),
    # Container health checks: the process answers and reaches its database (no login).
    path("healthz", healthz, name="healthz"),
]
