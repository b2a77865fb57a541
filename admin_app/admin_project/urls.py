from sync.health import sync_health
from sync.metrics import metrics

from sync_contract.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    staff_page=("admin/sync-health/", sync_health, "sync-health"), api="products.urls", metrics=metrics
)
