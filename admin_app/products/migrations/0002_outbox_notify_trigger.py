"""NOTIFY the relay when outbox rows are inserted.

A statement-level trigger: one notification per INSERT statement, delivered by
PostgreSQL only when the transaction commits (and merged with identical ones of
the same transaction), so the relay wakes exactly when there is something to send
and the writer pays no extra round trip.
"""

from django.db import migrations

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION products_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('product_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

CREATE = (
    NOTIFY_FUNCTION
    + """
CREATE TRIGGER products_outbox_notify
    AFTER INSERT ON products_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION products_outbox_notify();
"""
)

DROP = """
DROP TRIGGER IF EXISTS products_outbox_notify ON products_outboxevent;
DROP FUNCTION IF EXISTS products_outbox_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("products", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, DROP)]
