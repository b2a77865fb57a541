"""Outbox columns get database defaults, and an event's data is built by one SQL function.

``products_event_data(product)``: a product row as the contract's ``data`` object, the one
place its shape is defined for every statement of products.sql. The price is
``numeric(12,2)::text``, always two decimals, so the same price is the same string on both
sides. A plain SQL expression of a stable function, so the planner inlines it.
"""

import django.contrib.postgres.functions
import uuid
from django.db import migrations, models


EVENT_DATA = """
CREATE FUNCTION products_event_data(p products_product) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('sku', p.sku, 'title', p.title, 'description', p.description,
                              'price', p.price::text, 'image_url', p.image_url, 'is_active', p.is_active)
$$;
"""
DROP_EVENT_DATA = "DROP FUNCTION IF EXISTS products_event_data(products_product);"


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0007_sync_models_move_to_sync_app'),
    ]

    operations = [
        migrations.AlterField(
            model_name='outboxevent',
            name='attempts',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='event_id',
            field=models.UUIDField(db_default=django.contrib.postgres.functions.RandomUUID(), default=uuid.uuid4, editable=False),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='last_error',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.RunSQL(EVENT_DATA, DROP_EVENT_DATA),
    ]
