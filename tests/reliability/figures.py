"""The figures of a reliability run, read from both sides, and the settings the suite runs with.

The admin database is the truth: what the load generator committed is what the
catalog must end up holding. Nothing is counted by the load generator itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from testkit.stack import Stack

# Settings a deployment would tune for quick recovery; the suite uses short values so a
# fault heals within its deadlines. The relay's backoffs are the defaults (RELAY_BACKOFF_MAX
# 60 s; RELAY_RECONNECT_MAX, the default 2 s, stated for the memory alarm's bound). The drift
# check (which repairs differences on its own) is OFF: the figures must show what the
# pipeline itself delivers.
FAST_RECOVERY = {
    "RELAY_PUBLISH_TIMEOUT": "2",
    "RELAY_RECONNECT_MAX": "2",
    "RELAY_STATUS_INTERVAL": "1",
    "RELAY_POLL_INTERVAL": "0.5",
    "CATALOG_RETRY_BACKOFF_BASE": "0.5",
    "CATALOG_RETRY_BACKOFF_MAX": "4",
    "DRIFT_CHECK_INTERVAL": "0",
}


# Every (product_id, version) that reaches the catalog in a committed transaction, and each
# that the upsert applied, recorded by triggers the suite adds to the catalog database: a
# BEFORE INSERT row trigger fires for every proposed row of INSERT ... ON CONFLICT, even one
# the version rule then skips, and rolls back with a transaction that does not commit.
ARRIVALS_SQL = """
    CREATE TABLE reliability_arrival (product_id bigint NOT NULL, version bigint NOT NULL, applied boolean NOT NULL,
                                      at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION reliability_arrived() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO reliability_arrival (product_id, version, applied) VALUES (NEW.product_id, NEW.version, false);
        RETURN NEW;
    END $$;
    CREATE FUNCTION reliability_applied() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO reliability_arrival (product_id, version, applied) VALUES (NEW.product_id, NEW.version, true);
        RETURN NULL;
    END $$;
    CREATE TRIGGER reliability_arrived BEFORE INSERT ON catalog_catalogproduct
        FOR EACH ROW EXECUTE FUNCTION reliability_arrived();
    CREATE TRIGGER reliability_applied AFTER INSERT OR UPDATE ON catalog_catalogproduct
        FOR EACH ROW EXECUTE FUNCTION reliability_applied();
"""


def record_arrivals(stack: Stack) -> None:
    stack.q("catalog", ARRIVALS_SQL)


@dataclass(frozen=True)
class Accounting:
    changes: int  # distinct (product_id, version) committed in the admin
    applied: int  # of them, applied by the catalog
    # Skipped as older: reached the upsert while the catalog held a newer version, or
    # reported by the task (its stored result's "superseded") as replaced by a newer event
    # of its own message before the upsert (catalog.services.newest_per_product).
    skipped_older: int
    unaccounted: int  # neither: a change lost on its way, even if a later edit hid it


def accounting(stack: Stack) -> Accounting:
    """Each committed change: applied, or skipped as older than what the catalog held."""
    committed = set(stack.q("admin", "SELECT DISTINCT product_id, version FROM products_outboxevent"))
    arrivals = stack.q("catalog", "SELECT product_id, version, applied FROM reliability_arrival")
    applied = {(p, v) for p, v, was_applied in arrivals if was_applied}
    arrived = {(p, v) for p, v, _ in arrivals}
    newest: dict[int, int] = {}
    for p, v in applied:
        newest[p] = max(v, newest.get(p, 0))
    superseded = {
        (p, v)
        for r in stack.task_results()
        if r["status"] == "SUCCESS" and isinstance(r["result"], dict)
        for p, v in r["result"].get("superseded", ())
    }
    skipped = {(p, v) for p, v in committed - applied if (p, v) in arrived and newest.get(p, 0) > v} | (
        (committed - applied) & superseded
    )
    return Accounting(
        changes=len(committed),
        applied=len(committed & applied),
        skipped_older=len(skipped),
        unaccounted=len(committed - applied - skipped),
    )


def caught_up_after(stack: Stack, healed_at: float) -> float | None:
    """Seconds from ``healed_at`` (epoch) until the catalog held every change committed before it:
    for each, the first arrival of that version or a newer one of its product (one that a
    newer event of its message superseded arrives as that one). None if one never arrived."""
    before = stack.q(
        "admin",
        "SELECT product_id, version FROM products_outboxevent WHERE occurred_at <= to_timestamp(%s)",
        [healed_at],
    )
    arrivals: dict[int, list[tuple[int, float]]] = {}
    for p, v, at in stack.q("catalog", "SELECT product_id, version, EXTRACT(EPOCH FROM at) FROM reliability_arrival"):
        arrivals.setdefault(p, []).append((v, float(at)))
    latest = healed_at
    for p, v in before:
        times = [at for version, at in arrivals.get(p, ()) if version >= v]
        if not times:
            return None
        latest = max(latest, min(times))
    return round(latest - healed_at, 1)


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
