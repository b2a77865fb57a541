from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser

from catalog.admin_views import dead_letter_page
from catalog.metrics import metrics
from sync_contract.health import broker_ready, database_ready
from sync_contract.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    staff_page=("admin/dead-letters/", dead_letter_page, "catalog-dead-letters"),
    # The OpenAPI schema (public, like the read API) and its browsable page (staff, admin session).
    schema=(
        SpectacularAPIView.as_view(),
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=[SessionAuthentication], permission_classes=[IsAdminUser]
        ),
    ),
    api="catalog.urls",
    metrics=metrics,
    ready=(database_ready, broker_ready),
)
