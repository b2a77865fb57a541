"""Stacks for the reliability suite: the system tests' Stack, with databases that may
live on a throw-away PostgreSQL cluster, and the figures of a run read from both sides.

The admin database is the truth: what the load generator committed is what the
catalog must end up holding. Nothing is counted by the load generator itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from tests.reliability.pgcluster import ThrowawayPostgres
from tests.system.harness import (
    PG_HOST,
    PG_PORT,
    Broker,
    Stack,
    create_database,
    drop_database,
    fresh_log_dir,
    query,
    wait_until,
)

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
class ReliabilityStack(Stack):
    admin_pg: ThrowawayPostgres | None = None
    catalog_pg: ThrowawayPostgres | None = None

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.update(FAST_RECOVERY)
        env["ADMIN_DATABASE_URL"] = self.db_url("admin")
        env["CATALOG_DATABASE_URL"] = self.db_url("catalog")
        return env

    def _where(self, side: str) -> tuple[ThrowawayPostgres | None, str]:
        return (self.admin_pg, self.admin_db) if side == "admin" else (self.catalog_pg, self.catalog_db)

    def db_url(self, side: str) -> str:
        cluster, name = self._where(side)
        return cluster.url(name) if cluster else f"postgres://root@{PG_HOST}:{PG_PORT}/{name}"

    def q(self, side: str, sql: str, params: Any = None) -> list[tuple]:
        cluster, name = self._where(side)
        if cluster is None:
            return query(name, sql, params)
        return query(name, sql, params, host="127.0.0.1", port=cluster.port)

    # The harness's views of both sides, on wherever the databases live.
    def admin_state(self) -> dict[int, tuple]:
        rows = self.q("admin", "SELECT id, version, sku, title, price::text, is_active FROM products_product")
        return {r[0]: r[1:] for r in rows}

    def admin_deleted(self) -> dict[int, int]:
        return dict(
            self.q(
                "admin",
                "SELECT product_id, max(version) FROM products_outboxevent WHERE op = 'delete' GROUP BY product_id",
            )
        )

    def catalog_rows(self) -> dict[int, tuple]:
        rows = self.q(
            "catalog",
            "SELECT product_id, version, sku, title, price::text, is_active, deleted FROM catalog_catalogproduct",
        )
        return {r[0]: r[1:] for r in rows}

    def catalog_live(self) -> dict[int, tuple]:
        return {pid: row[:5] for pid, row in self.catalog_rows().items() if not row[5]}

    def catalog_tombstones(self) -> dict[int, int]:
        return {pid: row[0] for pid, row in self.catalog_rows().items() if row[5]}

    def pending_outbox(self) -> int:
        return self.q("admin", "SELECT count(*) FROM products_outboxevent WHERE published_at IS NULL")[0][0]

    def task_results(self) -> list[dict]:
        rows = self.q("catalog", "SELECT status, result FROM django_celery_results_taskresult")
        return [{"status": status, "result": json.loads(result) if result else None} for status, result in rows]

    def consumers(self) -> int:
        connection, channel = self.broker.channel(self.vhost)
        try:
            return channel.queue_declare(SYNC_QUEUE, passive=True).method.consumer_count
        finally:
            connection.close()

    def wait_for_consumers(self, count: int = 1, timeout: float = 120) -> None:
        wait_until(
            lambda: self.consumers() >= count,
            timeout=timeout,
            interval=0.3,
            what=f"{count} worker(s) consume the sync queue",
        )

    def dead_letters(self) -> int:
        try:
            return self.broker.queue_depth(self.vhost, DEAD_LETTER_QUEUE)
        except Exception:  # noqa: BLE001 - not declared yet: none
            return 0


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


def figures(stack: ReliabilityStack) -> Figures:
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


def build_stack(
    name: str,
    broker: Broker,
    templates: tuple[str, str],
    *,
    admin_pg: ThrowawayPostgres | None = None,
    catalog_pg: ThrowawayPostgres | None = None,
) -> ReliabilityStack:
    suffix, log_dir = fresh_log_dir("reliability", name)
    stack = ReliabilityStack(
        name=suffix,
        broker=broker,
        admin_db=f"rel_admin_{suffix}",
        catalog_db=f"rel_catalog_{suffix}",
        vhost=f"reltest-{suffix}",
        log_dir=log_dir,
        admin_pg=admin_pg,
        catalog_pg=catalog_pg,
    )
    try:
        for side, template, cluster in (("admin", templates[0], admin_pg), ("catalog", templates[1], catalog_pg)):
            target = stack.admin_db if side == "admin" else stack.catalog_db
            if cluster is None:
                create_database(target, template=template)
            else:
                cluster.copy_database(template, target)
        broker.add_vhost(stack.vhost)
    except BaseException:
        teardown_stack(stack)  # what was created so far (dropping a missing database is a no-op)
        raise
    return stack


def teardown_stack(stack: ReliabilityStack) -> None:
    stack.stop_all()
    stack.broker.delete_vhost(stack.vhost)
    if stack.admin_pg is None:
        drop_database(stack.admin_db)
    if stack.catalog_pg is None:
        drop_database(stack.catalog_db)
