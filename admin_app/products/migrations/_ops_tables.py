"""The relay's status and the drift check's runs, as products.0003 created them.

products.0003 creates them (tables and state); sync.0001 takes them over in Django's state
only, naming the tables products.0003 made. Both read the definitions from here (frozen:
later changes go into new migrations). The leading underscore keeps Django's migration
loader from taking this module for a migration.
"""

from typing import Any

from django.db import migrations, models


def relay_status_and_drift_check(*, table_names: bool) -> list[migrations.CreateModel]:
    """The two CreateModel operations; ``table_names`` pins the tables to products.0003's names."""

    def options(table: str, **more: Any) -> dict[str, Any]:
        return {"db_table": table, **more} if table_names else more

    return [
        migrations.CreateModel(
            name="RelayStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("relay_id", models.CharField(help_text="host:pid of the relay process", max_length=200, unique=True)),
                ("started_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField(help_text="last time the relay wrote this row (it is alive)")),
                ("last_attempt_at", models.DateTimeField(blank=True, help_text="last publish attempt", null=True)),
                ("last_success_at", models.DateTimeField(blank=True, help_text="last confirmed publish", null=True)),
                ("last_error", models.TextField(blank=True, default="")),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("stopped_at", models.DateTimeField(blank=True, null=True)),
            ],
            options=options("products_relaystatus", verbose_name_plural="relay statuses", ordering=["-last_seen_at"]),
        ),
        migrations.CreateModel(
            name="DriftCheck",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ran_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("trigger", models.CharField(default="command", max_length=20)),
                ("admin_products", models.PositiveIntegerField(default=0)),
                ("catalog_products", models.PositiveIntegerField(default=0)),
                ("missing", models.PositiveIntegerField(default=0, help_text="in the admin, not in the catalog")),
                ("stale", models.PositiveIntegerField(default=0, help_text="the catalog holds an older version")),
                ("extra", models.PositiveIntegerField(default=0, help_text="live in the catalog, gone from the admin")),
                (
                    "ahead",
                    models.PositiveIntegerField(
                        default=0, help_text="the catalog holds a newer version than the admin"
                    ),
                ),
                (
                    "in_flight",
                    models.PositiveIntegerField(default=0, help_text="differences still on their way (not counted)"),
                ),
                ("repaired", models.PositiveIntegerField(default=0)),
                ("ok", models.BooleanField(default=False)),
                ("error", models.TextField(blank=True, default="")),
                (
                    "sample",
                    models.JSONField(blank=True, default=dict, help_text="a few product ids per kind of difference"),
                ),
            ],
            options=options(
                "products_driftcheck",
                ordering=["-ran_at"],
                indexes=[models.Index(fields=["-ran_at"], name="driftcheck_recent")],
            ),
        ),
    ]
