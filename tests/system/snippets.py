"""Python run inside the admin's Django (``manage.py shell -c``) by the system tests."""

# Creates products through the service layer (as an import would), updates some,
# deletes some; prints the ids it created.
EDIT_PRODUCTS = """
from products.services import product_create, product_update, product_delete
ids = [product_create(data=dict(sku=prefix + "-" + str(i), title="Product " + str(i), price=str(i) + ".25")).pk
       for i in range(count)]
for pid in ids[:updates]:
    product_update(product_id=pid, data=dict(title="updated", price="99.99"))
for pid in ids[len(ids) - deletes:]:
    product_delete(product_id=pid)
print(",".join(map(str, ids)))
"""

# Publishes every outbox event, newest first, each one twice, one event per
# message, with the relay's own publisher: duplicates delivered in reverse order.
PUBLISH_REVERSED_TWICE = """
from django.conf import settings
from django.db import connection, transaction
from admin_project.celery_app import app
from sync.publisher import Publisher
from sync.relay import claim_events
with transaction.atomic(), connection.cursor() as cursor:
    claimed = claim_events(cursor, 10000)
    transaction.set_rollback(True)  # leave the outbox as it was: only the messages go out
events = [event.wire for event in reversed(claimed)]
publisher = Publisher(app, timeout=settings.RELAY_PUBLISH_TIMEOUT)
for event in events:
    publisher.publish([event])
for event in events:
    publisher.publish([event])
publisher.close()
print(len(events))
"""


def edit_products(prefix: str, count: int, updates: int = 0, deletes: int = 0) -> str:
    return f"prefix, count, updates, deletes = {prefix!r}, {count}, {updates}, {deletes}\n" + EDIT_PRODUCTS
