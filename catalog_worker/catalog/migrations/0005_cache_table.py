"""The database cache's table (CACHES in the base settings): the API throttles' counts live there.

``createcachetable`` is idempotent and creates what CACHES names, so every way the
databases are set up (start scripts, test templates, benchmarks) gets it with ``migrate``.
"""

from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_dead_letter_permissions")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
