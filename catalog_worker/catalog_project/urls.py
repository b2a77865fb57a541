from catalog.admin_views import dead_letter_page
from catalog.metrics import metrics
from sync_contract.health import broker_ready, database_ready
from sync_contract.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    staff_page=("admin/dead-letters/", dead_letter_page, "catalog-dead-letters"),
    api="catalog.urls",
    metrics=metrics,
    ready=(database_ready, broker_ready),
)
