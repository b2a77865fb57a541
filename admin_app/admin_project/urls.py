from sync.health import sync_health
from sync.metrics import metrics
from sync.relay_status import relay_heartbeat_ready

from sync_contract.health import broker_ready, database_ready
from sync_contract.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    staff_page=("admin/sync-health/", sync_health, "sync-health"),
    api="products.urls",
    metrics=metrics,
    ready=(database_ready, broker_ready, relay_heartbeat_ready),
)
