from django.contrib import admin
from django.urls import include, path

from catalog.admin_views import dead_letter_page
from catalog.metrics import metrics
from sync_contract.health import healthz

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer it.
    path("admin/dead-letters/", admin.site.admin_view(dead_letter_page), name="catalog-dead-letters"),
    path("admin/", admin.site.urls),
    path("api/", include("catalog.urls")),
    path("metrics", metrics, name="metrics"),
    # Container health checks: the process answers and reaches its database (no login).
    path("healthz", healthz, name="healthz"),
]
