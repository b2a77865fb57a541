"""The figures of a reliability run, read from both sides, and the settings the suite runs with.

The admin database is the truth: what the load generator committed is what the
catalog must end up holding. Nothing is counted by the load generator itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from testkit.stack import Stack

# Settings a deployment would tune for quick recovery; the suite uses short values so a
# fault heals within its deadlines. The drift check (which repairs differences on its
# own) is OFF: the figures must show what the pipeline itself delivers.
FAST_RECOVERY = {
    "RELAY_PUBLISH_TIMEOUT": "2",
    "RELAY_BACKOFF_BASE": "0.5",
    "RELAY_BACKOFF_MAX": "2",
    "RELAY_STATUS_INTERVAL": "1",
    "RELAY_POLL_INTERVAL": "0.5",
    "CATALOG_RETRY_BACKOFF_BASE": "0.5",
    "CATALOG_RETRY_BACKOFF_MAX": "4",
    "DRIFT_CHECK_INTERVAL": "0",
}


@dataclass
class Figures:
    sent: int  # outbox events committed in the admin
    products: int  # products touched (live or deleted)
    applied: int  # products whose final admin state the catalog holds
    lost: int  # products whose final state the catalog does not hold
    dup_with_effect: int  # applies beyond the distinct (product, version) changes, + phantom rows

    @property
    def converged(self) -> bool:
        return self.lost == 0 and self.dup_with_effect == 0


def figures(stack: Stack) -> Figures:
    admin = stack.admin_state()
    deleted = stack.admin_deleted()
    catalog = stack.catalog_rows()
    applied = lost = 0
    for pid, (version, sku, title, price, active) in admin.items():
        if catalog.get(pid) == (version, sku, title, price, active, False):
            applied += 1
        else:
            lost += 1
    for pid, version in deleted.items():
        row = catalog.get(pid)
        if row is not None and row[0] == version and row[5]:
            applied += 1
        else:
            lost += 1
    # A duplicate with effect is impossible when the version rule holds: each distinct
    # (product_id, version) can raise a catalog row at most once, so the applies the
    # tasks report can never exceed the distinct changes. Rows the admin never had
    # (phantoms) count too.
    sent, distinct = stack.q(
        "admin", "SELECT count(*), count(DISTINCT (product_id, version)) FROM products_outboxevent"
    )[0]
    reported = sum(
        (r["result"] or {}).get("applied", 0)
        for r in stack.task_results()
        if r["status"] == "SUCCESS" and isinstance(r["result"], dict)
    )
    phantoms = len(set(catalog) - set(admin) - set(deleted))
    return Figures(
        sent=sent,
        products=len(admin) + len(deleted),
        applied=applied,
        lost=lost,
        dup_with_effect=max(0, reported - distinct) + phantoms,
    )
