"""``manage.py check_drift [--repair]``: compare (product_id, version) with the catalog."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.drift import KINDS
from sync.drift_check import run_drift_check


class Command(BaseCommand):
    help = (
        "Compare every product's (id, version) with the catalog's; report missing, stale, extra and ahead "
        "products; with --repair re-send them through the outbox. Each run is stored (sync health page). "
        "Exits 1 when the catalog cannot be reached or differences remain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="re-send what differs")
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            help="seconds a published change may still be on its way (default DRIFT_GRACE_SECONDS)",
        )

    def handle(self, *args: Any, repair: bool, grace: float | None, **options: Any) -> None:
        check = run_drift_check(repair_found=repair, trigger="command", grace_seconds=grace)
        self.stdout.write(
            f"admin products: {check.admin_products}, catalog products: {check.catalog_products}\n"
            + "".join(
                f"{kind}: {getattr(check, kind)}"
                + (f"  e.g. {' '.join(map(str, check.sample.get(kind, [])))}" if check.sample.get(kind) else "")
                + "\n"
                for kind in KINDS
            )
            + f"in flight (not counted): {check.in_flight}\nrepaired: {check.repaired}"
        )
        if check.error:
            raise CommandError(check.error)
        if check.ok:
            self.stdout.write("catalog and admin agree" if not check.differences else "differences re-sent")
        else:
            raise CommandError(f"{check.differences} differences (run with --repair to re-send them)")
