"""The database cache's table (CACHES in the base settings): created by ``migrate``, UNLOGGED.

``createcachetable`` is idempotent and creates what CACHES names, so every way the
databases are set up (start scripts, test templates, benchmarks) gets it with ``migrate``.
The table holds only throttle counts: UNLOGGED, so its writes skip the WAL.

Every API request writes its throttle count; in a logged table each such commit waits for a
WAL flush, which queues behind checkpoints and vacuum after heavy writes (decision 0027).
After a crash PostgreSQL empties an unlogged table: the counts start again, nothing else is lost.
"""

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import migrations

DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"


def _set_persistence(persistence: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for cache in settings.CACHES.values():
            if cache["BACKEND"] == DATABASE_CACHE:
                schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(cache['LOCATION'])} SET {persistence}")

    return run


def unlogged_cache_tables() -> migrations.RunPython:
    """A migration operation: the database cache tables SET UNLOGGED (reversed: SET LOGGED)."""
    return migrations.RunPython(_set_persistence("UNLOGGED"), _set_persistence("LOGGED"))


def _create(apps: Any, schema_editor: Any) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def create_cache_tables() -> migrations.RunPython:
    """A migration operation: the tables CACHES names, created if missing (reversed: nothing)."""
    return migrations.RunPython(_create, migrations.RunPython.noop)
