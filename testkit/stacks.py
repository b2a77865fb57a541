"""Stacks made for one test, and their removal after it: processes stopped (their logs shown
if the test failed), vhosts deleted, databases on the shared server dropped."""

from __future__ import annotations

import re
from collections.abc import Callable

from testkit.broker import Broker
from testkit.paths import fresh_log_dir
from testkit.postgres import SHARED_PG, PgServer
from testkit.stack import Stack

Templates = Callable[[], tuple[str, str]]


class StackFactory:
    """Builds stacks named after ``kind`` (the suite) and the test; ``close()`` removes them all."""

    def __init__(self, kind: str, test_name: str, shared_broker: Broker, templates: Templates) -> None:
        self.kind = kind
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)[:80]
        self.shared_broker = shared_broker
        self.templates = templates
        self.stacks: list[Stack] = []
        self.afterwards: list[Callable[[], object]] = []

    def __call__(
        self,
        broker: Broker | None = None,
        *,
        vhost: str | None = None,
        admin_pg: PgServer = SHARED_PG,
        catalog_pg: PgServer = SHARED_PG,
        env: dict[str, str] | None = None,
        migrated: bool = True,
    ) -> Stack:
        """A stack on ``broker`` (default: the shared one) in a vhost of its own (or ``vhost``).

        ``migrated``: both databases are copies of the migrated templates (with the staff
        user); otherwise they do not exist yet (docker/start/migrate creates them).
        """
        suffix, log_dir = fresh_log_dir(self.kind, self.test_name)
        stack = Stack(
            name=suffix,
            broker=broker or self.shared_broker,
            admin_db=f"{self.kind}_admin_{suffix}",
            catalog_db=f"{self.kind}_catalog_{suffix}",
            vhost=vhost or f"{self.kind}-{suffix}",
            log_dir=log_dir,
            admin_pg=admin_pg,
            catalog_pg=catalog_pg,
            extra_env=env or {},
        )
        self.stacks.append(stack)  # before creating anything: close() removes what was made
        if migrated:
            admin_template, catalog_template = self.templates()
            admin_pg.copy_database(SHARED_PG, admin_template, stack.admin_db)
            catalog_pg.copy_database(SHARED_PG, catalog_template, stack.catalog_db)
        stack.broker.add_vhost(stack.vhost)
        if migrated:  # provisioned like the databases: the queues exist before any process starts
            stack.queues.provision()
        return stack

    def after_close(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` once the stacks are gone (destroy a throw-away cluster they used, say)."""
        self.afterwards.append(cleanup)

    def close(self, *, failed: bool) -> None:
        for stack in self.stacks:
            stack.stop_all()
            if failed:
                for process in stack.processes:
                    print(f"\n----- {process.name} (last lines; full log {process.log_path}) -----\n{process.tail()}")  # noqa: T201
            if stack.broker.is_listening():  # a stopped throw-away node goes whole
                stack.broker.delete_vhost(stack.vhost)
            for server, name in ((stack.admin_pg, stack.admin_db), (stack.catalog_pg, stack.catalog_db)):
                if server is SHARED_PG:  # a throw-away cluster is destroyed whole by its owner
                    server.drop_database(name)
        self.stacks.clear()
        while self.afterwards:
            self.afterwards.pop()()
