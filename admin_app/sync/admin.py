"""Django admin views of what the sync machinery records: relay statuses and drift checks (read-only)."""

from django.contrib import admin

from products.admin import ReadOnlyAdmin
from sync.models import DriftCheck, RelayStatus


@admin.register(RelayStatus)
class RelayStatusAdmin(ReadOnlyAdmin):
    list_display = (
        "relay_id",
        "failing",
        "consecutive_failures",
        "last_success_at",
        "last_attempt_at",
        "last_seen_at",
        "stopped_at",
    )
    readonly_fields = [f.name for f in RelayStatus._meta.fields]

    @admin.display(boolean=True, description="failing")
    def failing(self, obj: RelayStatus) -> bool:
        return obj.failing


@admin.register(DriftCheck)
class DriftCheckAdmin(ReadOnlyAdmin):
    list_display = ("ran_at", "trigger", "ok", "missing", "stale", "extra", "ahead", "in_flight", "repaired", "error")
    list_filter = ("ok", "trigger")
    readonly_fields = [f.name for f in DriftCheck._meta.fields]
