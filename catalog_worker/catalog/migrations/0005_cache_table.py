"""The database cache's table (CACHES in the base settings): the API throttles' counts live there."""

from django.db import migrations

from sync_contract.cache_table import create_cache_tables


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_dead_letter_permissions")]

    operations = [create_cache_tables()]
