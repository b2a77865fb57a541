"""The database cache's table (CACHES in the base settings): the password throttle's counts live there."""

from django.db import migrations

from sync_contract.cache_table import create_cache_tables


class Migration(migrations.Migration):
    dependencies = [("products", "0009_resync_permission")]

    operations = [create_cache_tables()]
