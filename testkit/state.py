"""What a stack's system holds, read from both databases and the broker.

The admin database is the truth: what was committed there is what the catalog must
end up holding. Mixed into ``Stack``, which says where the databases are (``q``).
"""

from __future__ import annotations

import json
from typing import Any

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from testkit.broker import Vhost
from testkit.waiting import wait_until


class SystemState:
    @property
    def queues(self) -> Vhost:
        raise NotImplementedError

    def q(self, side: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def admin_state(self) -> dict[int, tuple[Any, ...]]:
        """Each product: (version, sku, title, price, is_active)."""
        rows = self.q("admin", "SELECT id, version, sku, title, price::text, is_active FROM products_product")
        return {r[0]: r[1:] for r in rows}

    def admin_deleted(self) -> dict[int, int]:
        """Each deleted product: the version of its delete."""
        rows = self.q(
            "admin",
            "SELECT product_id, max(version) FROM products_outboxevent WHERE op = 'delete' GROUP BY product_id",
        )
        return dict(rows)

    def catalog_rows(self) -> dict[int, tuple[Any, ...]]:
        """Each catalog row: (version, sku, title, price, is_active, deleted)."""
        rows = self.q(
            "catalog",
            "SELECT product_id, version, sku, title, price::text, is_active, deleted FROM catalog_catalogproduct",
        )
        return {r[0]: r[1:] for r in rows}

    def catalog_live(self) -> dict[int, tuple[Any, ...]]:
        """Each live catalog product, as ``admin_state`` has it."""
        return {pid: row[:5] for pid, row in self.catalog_rows().items() if not row[5]}

    def catalog_tombstones(self) -> dict[int, int]:
        return {pid: row[0] for pid, row in self.catalog_rows().items() if row[5]}

    def catalog_matches_admin(self) -> bool:
        return self.catalog_live() == self.admin_state() and self.catalog_tombstones() == self.admin_deleted()

    def pending_outbox(self) -> int:
        count: int = self.q("admin", "SELECT count(*) FROM products_outboxevent WHERE published_at IS NULL")[0][0]
        return count

    def task_results(self) -> list[dict[str, Any]]:
        rows = self.q("catalog", "SELECT status, result FROM django_celery_results_taskresult")
        return [{"status": status, "result": json.loads(result) if result else None} for status, result in rows]

    def dead_letters(self) -> int:
        """Messages in the dead-letter queue (none while it is not declared)."""
        try:
            return self.queues.depth(DEAD_LETTER_QUEUE)
        except Exception:  # noqa: BLE001 - not declared yet: none
            return 0

    def wait_for_consumers(self, count: int = 1, timeout: float = 120) -> None:
        wait_until(
            lambda: self.queues.consumers(SYNC_QUEUE) >= count,
            timeout=timeout,
            interval=0.3,
            what=f"{count} worker(s) consume the sync queue",
        )
