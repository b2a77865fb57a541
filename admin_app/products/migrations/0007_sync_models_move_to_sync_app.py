# RelayStatus and DriftCheck now belong to the sync app (sync.0001_initial): removed
# from this app's state only; their tables stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0006_contract_limits_on_product_fields'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='RelayStatus'),
                migrations.DeleteModel(name='DriftCheck'),
            ],
            database_operations=[],
        ),
    ]
