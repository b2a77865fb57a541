from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser

from catalog.admin_views import dead_letter_page
from catalog.metrics import metrics
from sync_contract.health import healthz

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer it.
    path("admin/dead-letters/", admin.site.admin_view(dead_letter_page), name="catalog-dead-letters"),
    path("admin/", admin.site.urls),
    # The OpenAPI schema (public, like the read API) and its browsable page (staff, admin session).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[SessionAuthentication], permission_classes=[IsAdminUser]
        ),
        name="api-docs",
    ),
    path("api/", include("catalog.urls")),
    path("metrics", metrics, name="metrics"),
    # Container health checks: the process answers and reaches its database (no login).
    path("healthz", healthz, name="healthz"),
]
