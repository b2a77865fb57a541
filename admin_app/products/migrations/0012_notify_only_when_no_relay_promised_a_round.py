"""The outbox trigger NOTIFYs only when no relay has promised to claim again.

A relay that has just published holds the promise lock (a session advisory lock) while it
will claim again within its round interval; a NOTIFY then would only wake it early, and
PostgreSQL serialises the commits of notifying transactions. Every writing transaction
first takes the hand-over lock shared until it ends: a relay gives its promise up only when
it can take that lock exclusively (no writer that may have skipped its NOTIFY is left), then
claims once more (``sync.wakeup``; docs/decisions/0026-single-edits-at-the-same-rate.md). The keys are
``products.sql.RELAY_PROMISE_LOCK`` and ``products.sql.NOTIFY_HANDOVER_LOCK``.
"""

from importlib import import_module

from django.db import migrations

NOTIFY_UNLESS_PROMISED = """
CREATE OR REPLACE FUNCTION products_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7106402);
    IF pg_try_advisory_lock_shared(7106401) THEN
        PERFORM pg_advisory_unlock_shared(7106401);
        PERFORM pg_notify('product_outbox', '');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# Reversed: the function of products.0002 (a module name that starts with a digit).
NOTIFY_ALWAYS = import_module("products.migrations.0002_outbox_notify_trigger").NOTIFY_FUNCTION


class Migration(migrations.Migration):
    dependencies = [("products", "0011_unlogged_cache_table")]

    operations = [migrations.RunSQL(NOTIFY_UNLESS_PROMISED, NOTIFY_ALWAYS)]
