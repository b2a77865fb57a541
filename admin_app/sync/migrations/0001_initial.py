# The relay's status and the drift check's runs, moved here from the products app: Django's
# state only; the tables (created by products.0003) keep their names.

from django.db import migrations

from products.migrations._ops_tables import relay_status_and_drift_check


class Migration(migrations.Migration):
    initial = True

    dependencies = [("products", "0007_sync_models_move_to_sync_app")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=relay_status_and_drift_check(table_names=True),
            database_operations=[],
        ),
    ]
