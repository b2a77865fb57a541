"""What the sync machinery records about itself: each relay's status and each drift check.

The tables keep their ``products_*`` names: these models moved here from the products app,
the tables stayed (docs/decisions/0013-products-and-sync-apps.md).
"""

from django.db import models


class RelayStatus(models.Model):
    """What one relay process last saw: written by the relay when its state changes
    (publishing works / fails) and otherwise at most every few seconds, never per message.
    The admin's broker-unreachable banner and the sync health page read it."""

    relay_id = models.CharField(max_length=200, unique=True, help_text="host:pid of the relay process")
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(help_text="last time the relay wrote this row (it is alive)")
    last_attempt_at = models.DateTimeField(null=True, blank=True, help_text="last publish attempt")
    last_success_at = models.DateTimeField(null=True, blank=True, help_text="last confirmed publish")
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "products_relaystatus"
        ordering = ["-last_seen_at"]
        verbose_name_plural = "relay statuses"

    def __str__(self) -> str:
        return f"{self.relay_id}: {'failing' if self.failing else 'ok'}"

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


class DriftCheck(models.Model):
    """One run of the drift check (``manage.py check_drift`` or the relay's periodic run)."""

    ran_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, default="command")
    admin_products = models.PositiveIntegerField(default=0)
    catalog_products = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0, help_text="in the admin, not in the catalog")
    stale = models.PositiveIntegerField(default=0, help_text="the catalog holds an older version")
    extra = models.PositiveIntegerField(default=0, help_text="live in the catalog, gone from the admin")
    ahead = models.PositiveIntegerField(default=0, help_text="the catalog holds a newer version than the admin")
    in_flight = models.PositiveIntegerField(default=0, help_text="differences still on their way (not counted)")
    repaired = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    sample = models.JSONField(default=dict, blank=True, help_text="a few product ids per kind of difference")

    class Meta:
        db_table = "products_driftcheck"
        ordering = ["-ran_at"]
        indexes = [models.Index(fields=["-ran_at"], name="driftcheck_recent")]

    def __str__(self) -> str:
        return f"drift check {self.ran_at:%Y-%m-%d %H:%M:%S}: {'ok' if self.ok else 'differences'}"

    @property
    def differences(self) -> int:
        return self.missing + self.stale + self.extra + self.ahead
