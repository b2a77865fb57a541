"""Drop the varchar_pattern_ops index Django adds beside a unique CharField.

It serves only case-sensitive LIKE 'prefix%' lookups; nothing here makes them (the
admin searches with icontains, which it cannot use), and every product write paid
for it: one index fewer per insert and sku change.
"""

from django.db import migrations

INDEX = "products_product_sku_3c51a516_like"


class Migration(migrations.Migration):
    dependencies = [("products", "0003_ops_relay_status_drift_check")]
    operations = [
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {INDEX}",
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON products_product (sku varchar_pattern_ops)",
        )
    ]
