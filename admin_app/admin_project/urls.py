from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from sync.health import sync_health
from sync.metrics import metrics
from sync.relay_status import relay_heartbeat_ready

from sync_contract.health import broker_ready, database_ready
from sync_contract.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    staff_page=("admin/sync-health/", sync_health, "sync-health"),
    # The OpenAPI schema and its browsable page: staff only (SPECTACULAR_SETTINGS).
    schema=(SpectacularAPIView.as_view(), SpectacularSwaggerView.as_view(url_name="schema")),
    api="products.urls",
    metrics=metrics,
    ready=(database_ready, broker_ready, relay_heartbeat_ready),
)
