"""The database cache's table UNLOGGED: throttle counts need no WAL (sync_contract.cache_table)."""

from django.db import migrations

from sync_contract.cache_table import unlogged_cache_tables


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_cache_table")]

    operations = [unlogged_cache_tables()]
