"""Worker crashes that the main process survives: a pool child killed mid-task hands its message
back (``task_reject_on_worker_lost``); a message that kills its pool child on every delivery ends
in the dead-letter queue at the quorum queue's delivery limit while other changes flow."""

import os
import signal
from pathlib import Path

import pytest

from sync_contract import DEAD_LETTER_QUEUE, SYNC_QUEUE
from sync_contract.topology import DELIVERY_LIMIT
from testkit.postgres import holding, query
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

UPSERT = "INSERT INTO catalog_catalogproduct"


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def blocked_client_ports(dbname: str) -> list[int]:
    rows = query(
        dbname,
        "SELECT client_port FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND query ILIKE %s",
        [dbname, f"%{UPSERT}%"],
    )
    return [port for (port,) in rows if port is not None]


def socket_inode(local_port: int) -> str | None:
    """The inode of this machine's TCP socket whose local port is ``local_port`` (IPv4 or IPv6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                return fields[9]
    return None


def pool_child_blocked_on_the_lock(worker_pid: int, dbname: str) -> int | None:
    """The pool child whose database connection waits on the test's lock."""
    inodes = {socket_inode(port) for port in blocked_client_ports(dbname)} - {None}
    for child in children(worker_pid):
        try:
            links = {os.readlink(f"/proc/{child}/fd/{fd}") for fd in os.listdir(f"/proc/{child}/fd")}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return child
    return None


def test_a_pool_child_killed_mid_task_hands_its_message_back_and_the_main_process_lives(make_stack):
    stack = make_stack()
    stack.start("admin-relay")
    stack.edit_products("child", 20, updates=5)
    wait_until(lambda: stack.pending_outbox() == 0, timeout=60, what="events published")

    with holding(stack.catalog_db, "LOCK TABLE catalog_catalogproduct IN SHARE MODE"):
        worker = stack.start("catalog-worker")
        child = wait_until(
            lambda: pool_child_blocked_on_the_lock(worker.pid, stack.catalog_db),
            timeout=60,
            what="a pool child blocked inside its task",
        )
        os.kill(child, signal.SIGKILL)  # the child only: the main process lives on
        wait_until(lambda: child not in children(worker.pid), timeout=30, what="the pool replaced the child")

    wait_until(stack.catalog_matches_admin, timeout=60, what="catalog equals admin after the redelivery")
    assert worker.alive()
    assert len(stack.catalog_live()) == 20
    assert stack.queues.depth(DEAD_LETTER_QUEUE) == 0
    assert "WorkerLostError" in worker.log() or "Process 'ForkPoolWorker" in worker.log()


def test_a_message_that_kills_its_worker_every_time_is_dead_lettered_at_the_delivery_limit(make_stack):
    stack = make_stack()
    worker = stack.start("catalog-worker", env={"CATALOG_WORKER_CONCURRENCY": "2"})
    stack.start("admin-relay")
    (victim,) = stack.edit_products("poison", 1)
    wait_until(stack.catalog_matches_admin, timeout=60, what="the product applied")

    # Its next change will block on this row lock in every delivery; the test kills the pool
    # child that runs it each time, as a crash on this one message would.
    killed: list[int] = []
    stream = None
    with holding(stack.catalog_db, "SELECT 1 FROM catalog_catalogproduct WHERE product_id = %s FOR UPDATE", [victim]):
        stack.admin_action("update", "--product-id", str(victim), "--times", "1", "--title", "crashes")
        while stack.queues.depth(DEAD_LETTER_QUEUE) == 0:
            child = wait_until(
                lambda: (
                    pool_child_blocked_on_the_lock(worker.pid, stack.catalog_db)
                    or (stack.queues.depth(DEAD_LETTER_QUEUE) > 0 and -1)
                ),
                timeout=60,
                interval=0.1,
                what=f"the crashing message delivered again (after {len(killed)} kills)",
            )
            if child == -1:
                break
            os.kill(child, signal.SIGKILL)
            killed.append(child)
            # Until it is gone, the child still shows its socket: it would be counted twice.
            wait_until(lambda gone=child: gone not in children(worker.pid), timeout=30, what="the killed child gone")
            if stream is None:  # other changes, committed while the crashing message loops
                stream = stack.start_admin_action(
                    "flow", "stream", "--prefix", "flow", "--rate", "20", "--seconds", "8"
                )
        wait_until(lambda: stack.queues.depth(DEAD_LETTER_QUEUE) == 1, timeout=30, what="dead-lettered")
    assert stream is not None
    stream.wait(timeout=60)

    # Every other change reached the catalog; the crashing one waits in the dead-letter queue.
    def others_applied() -> bool:
        catalog = stack.catalog_rows()
        live = all(catalog.get(pid, (None,))[0] == row[0] for pid, row in stack.admin_state().items() if pid != victim)
        deleted = all(catalog.get(pid, (None,))[0] == version for pid, version in stack.admin_deleted().items())
        return live and deleted

    assert len(stack.admin_state()) + len(stack.admin_deleted()) > 20  # the stream's products, and the victim
    wait_until(others_applied, timeout=60, what="every other change applied")
    assert stack.catalog_rows()[victim][0] == 1  # still the version before the crashing change
    assert stack.admin_state()[victim][0] == 2
    assert DELIVERY_LIMIT <= len(killed) <= DELIVERY_LIMIT + 1, killed
    assert worker.alive()
    assert stack.queues.depth(SYNC_QUEUE) == 0
