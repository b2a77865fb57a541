"""Names both services must agree on. Changing one is a breaking change."""

TASK_SYNC_PRODUCTS = "catalog.sync_products"

# A topic exchange: Celery's native delayed delivery (countdown retries kept in
# the broker, not in worker memory) only works when the queue's exchange is a topic.
SYNC_EXCHANGE = "catalog"
SYNC_QUEUE = "catalog.product_sync"
SYNC_ROUTING_KEY = "catalog.product_sync"

DEAD_LETTER_EXCHANGE = "catalog.dlx"
DEAD_LETTER_QUEUE = "catalog.product_sync.dead"
DEAD_LETTER_ROUTING_KEY = "catalog.product_sync.dead"
