"""Fault scenarios under load, and the runner that turns each into one row of figures.

A scenario: start worker(s) and relay(s), run the load generator (a paced loop of
product_create / product_update / product_delete through the admin's service layer,
in the admin's Django) for ``RELIABILITY_SECONDS``, inject the fault while it runs,
then wait for the catalog to equal the admin and read the figures from both databases.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from testkit.broker import rabbitmqctl
from testkit.paths import REPO, START
from testkit.processes import Process
from testkit.stack import Stack
from testkit.waiting import wait_until
from tests.reliability.figures import accounting, caught_up_after, figures, record_arrivals

SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "6"))
RATE = float(os.environ.get("RELIABILITY_RATE", "200"))
# Load generator processes, each committing RATE / LOAD_PROCESSES changes/s: one Django
# process alone does not reach 200/s on a loaded 2-core machine.
LOAD_PROCESSES = int(os.environ.get("RELIABILITY_LOAD_PROCESSES", "2"))
CONVERGE_TIMEOUT = float(os.environ.get("RELIABILITY_CONVERGE_TIMEOUT", "180"))
ROWS_FILE = Path(os.environ.get("RELIABILITY_ROWS", str(REPO / "test-artifacts" / "reliability" / "rows.jsonl")))


@dataclass
class Row:
    scenario: str
    seconds: float
    sent: int
    applied: int
    lost: int
    dup_with_effect: int
    converge_s: float | None
    dead_lettered: int
    note: str = ""
    # Every committed (product_id, version): applied, or skipped as older (figures.accounting).
    changes_applied: int = 0
    changes_skipped_older: int = 0
    changes_unaccounted: int = -1
    # From the end of the fault (the broker or database started again, the process restarted)
    # until the catalog held every change committed before it; None: no fault, or never.
    caught_up_s: float | None = None


@dataclass
class Run:
    """What a fault function gets: the stack, its processes, and the clock of the load."""

    stack: Stack
    seconds: float
    t0: float = 0.0
    relays: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    broker: Any = None
    notes: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def at(self, fraction: float) -> None:
        """Wait until ``fraction`` of the load phase has passed."""
        delay = self.t0 + fraction * self.seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def start_worker(self, suffix: str, *, hostname: str | None = None) -> Process:
        if hostname is None:
            process = self.stack.start("catalog-worker", suffix=suffix)
        else:
            # Its own UTS namespace and host name, as each container of a scaled service has:
            # the start script names the node catalog@<host name>, and two nodes of one name
            # cannot both hold their exclusive pidbox queue (the second one dies).
            process = self.stack.add(
                Process(
                    "catalog-worker" + suffix,
                    [
                        "unshare",
                        "--uts",
                        "sh",
                        "-c",
                        'hostname "$1" && exec "$2"',
                        "sh",
                        hostname,
                        str(START / "catalog-worker"),
                    ],
                    self.stack.env,
                    self.stack.log_dir,
                )
            )
        self.workers.append(process)
        return process

    def start_relay(self, suffix: str) -> Process:
        process = self.stack.start("admin-relay", suffix=suffix)
        self.relays.append(process)
        return process


@dataclass
class Scenario:
    name: str
    fault: Callable[[Run], None]
    broker: str = "shared"  # or "throwaway": the fault stops, blocks or cuts the broker
    admin_pg: bool = False  # the admin database on a throw-away cluster (restarted)
    catalog_pg: bool = False
    relays: int = 1
    workers: int = 1
    in_make_test: bool = True


# --- faults -------------------------------------------------------------------------


def no_fault(run: Run) -> None:
    run.checks["healed_at"] = None  # nothing to heal from
    run.notes.append("no fault: concurrency only")


def broker_restart(run: Run) -> None:
    run.at(0.3)
    run.broker.stop()
    time.sleep(max(2.0, 0.2 * run.seconds))  # the broker stays down this long
    run.broker.start()
    run.notes.append("broker stopped and started")


RELAY_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) WARNING sync\.relay publish failed", re.M)


def memory_alarm(run: Run) -> None:
    """Block publishers with a memory alarm; publishing must fail in bounded time, the relay loop on.

    One publish attempt fails within T = RELAY_PUBLISH_TIMEOUT (socket timeouts bound
    every wait, the failed connection is dropped without a close handshake); a held
    connection that fails gets one retry on a fresh one, so a relay publish fails
    within 2 T. Before the fixes in sync/publisher.py it hung until the alarm cleared.
    """
    timeout = float(run.stack.env["RELAY_PUBLISH_TIMEOUT"])
    bound = 2 * timeout + 4.0  # + margin for a loaded machine
    run.at(0.25)
    relay = run.relays[0]
    log_offset = len(relay.log())
    last_attempt_before = _relay_last_attempts(run.stack)
    rabbitmqctl("set_vm_memory_high_watermark", "0", node=run.broker.node)
    alarm_at = datetime.now()
    alarm_mono = time.monotonic()
    try:

        def failures() -> list[str]:
            return RELAY_LOG_TIME.findall(relay.log()[log_offset:])

        first = wait_until(
            failures, timeout=bound + 30, interval=0.2, what="a publish failure logged under the memory alarm"
        )
        run.checks["first_failure_s"] = (datetime.strptime(first[0], "%Y-%m-%d %H:%M:%S,%f") - alarm_at).total_seconds()
        run.checks["failure_bound_s"] = bound
        # The relay keeps looping: a second failure comes after at most one more attempt + the backoff.
        gap_bound = bound + float(run.stack.env["RELAY_RECONNECT_MAX"]) + 1.0
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: len(failures()) >= 2, timeout=gap_bound + 30, interval=0.2, what="a second publish failure"
            )
        time.sleep(max(0.0, alarm_mono + 0.3 * run.seconds - time.monotonic()))  # hold at least 30 % of the load
        stamps = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in failures()]
        run.checks["failures_during_alarm"] = len(stamps)
        run.checks["max_gap_s"] = max(((b - a).total_seconds() for a, b in itertools.pairwise(stamps)), default=0.0)
        run.checks["gap_bound_s"] = gap_bound
        run.checks["relay_alive"] = relay.alive()
        run.checks["last_attempt_advanced"] = _relay_last_attempts(run.stack) != last_attempt_before
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", "0.4", node=run.broker.node)
    run.notes.append(
        f"alarm: first publish failure after {run.checks['first_failure_s']:.1f}s, "
        f"{run.checks['failures_during_alarm']} failures, max gap {run.checks['max_gap_s']:.1f}s"
    )


def _relay_last_attempts(stack: Stack) -> list:
    return stack.q("admin", "SELECT relay_id, last_attempt_at FROM products_relaystatus ORDER BY relay_id")


def close_all_connections(run: Run) -> None:
    for fraction in (0.3, 0.6):
        run.at(fraction)
        rabbitmqctl("close_all_connections", "reliability test", node=run.broker.node)
    run.notes.append("all connections closed twice")


def worker_sigkill(run: Run) -> None:
    run.at(0.4)
    run.workers[0].kill()
    # What a supervisor (compose restart policy, systemd) does: start it again.
    run.start_worker("-restarted")
    run.notes.append("worker group SIGKILLed, restarted by the supervisor's part")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pool_child_sigkill(run: Run) -> None:
    killed = []
    for fraction in (0.3, 0.6):
        run.at(fraction)
        children = _children(run.workers[0].pid)
        if children:
            victim = random.choice(children)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
    run.checks["killed_children"] = killed
    run.notes.append(f"{len(killed)} pool children SIGKILLed")


def _pg_restart(cluster_of: Callable[[Run], Any], what: str) -> Callable[[Run], None]:
    def fault(run: Run) -> None:
        run.at(0.3)
        cluster = cluster_of(run)
        cluster.stop("fast")
        time.sleep(max(2.0, 0.15 * run.seconds))  # the database stays down this long
        cluster.start()
        run.notes.append(f"{what} PostgreSQL restarted")

    return fault


catalog_pg_restart = _pg_restart(lambda run: run.stack.catalog_pg, "catalog")
admin_pg_restart = _pg_restart(lambda run: run.stack.admin_pg, "admin")


def relay_sigkill(run: Run) -> None:
    rnd = random.Random()
    for index, fraction in enumerate(sorted(rnd.uniform(0.2, 0.8) for _ in range(2))):
        run.at(fraction)
        run.relays[-1].kill()
        run.start_relay(f"-restarted{index}")
    run.notes.append("relay SIGKILLed twice at random points")


# In `make test` (short load phases, ~5 minutes for the whole of tests/reliability on
# this 2-core machine): the faults that found bugs and that tests/system does not cover.
# `make reliability` (RELIABILITY_ALL=1) runs every one.
SCENARIOS = [
    Scenario("broker memory alarm", memory_alarm, broker="throwaway"),
    Scenario("catalog PostgreSQL restarted", catalog_pg_restart, catalog_pg=True),
    Scenario("admin PostgreSQL restarted", admin_pg_restart, admin_pg=True),
    Scenario("broker stopped and restarted", broker_restart, broker="throwaway", in_make_test=False),
    Scenario("close_all_connections", close_all_connections, broker="throwaway", in_make_test=False),
    Scenario("relay SIGKILL mid-stream", relay_sigkill, in_make_test=False),
    Scenario("worker SIGKILL", worker_sigkill, in_make_test=False),
    Scenario("pool child SIGKILL", pool_child_sigkill, in_make_test=False),
    Scenario("two relays at once", no_fault, relays=2, in_make_test=False),
    Scenario("three workers at once", no_fault, workers=3, in_make_test=False),
]


# --- the runner ---------------------------------------------------------------------


def run_scenario(scenario: Scenario, stack: Stack, *, seconds: float = SECONDS, broker: Any = None) -> tuple[Row, Run]:
    run = Run(stack=stack, seconds=seconds, broker=broker)
    record_arrivals(stack)
    for i in range(scenario.workers):
        run.start_worker(f"-{i}", hostname=f"worker{i}-{stack.name}" if scenario.workers > 1 else None)
    for i in range(scenario.relays):
        run.start_relay(f"-{i}")
    stack.wait_for_consumers(scenario.workers)
    for relay in run.relays:
        wait_until(lambda r=relay: "relay started" in r.log(), timeout=120, interval=0.3, what="relay started")

    # The load generators: paced product changes through the admin's service layer.
    loads = [
        stack.start_admin_action(
            f"load-{index}",
            *("stream", "--prefix", f"L{stack.name}-{index}", "--seed", str(random.randrange(10**9))),
            *("--rate", str(RATE / LOAD_PROCESSES), "--seconds", str(seconds)),
        )
        for index in range(LOAD_PROCESSES)
    ]
    run.t0 = time.monotonic()
    try:
        scenario.fault(run)
        fault_end = time.monotonic()
        run.checks.setdefault("healed_at", time.time())  # the fault's last step is its repair
        for load in loads:
            load.wait(timeout=max(1.0, run.t0 + seconds + 120 - time.monotonic()))
    finally:
        for load in loads:
            if load.alive():
                load.kill()
    load_end = time.monotonic()
    if any(load.popen.returncode != 0 for load in loads):
        raise RuntimeError(f"a load generator failed; see {stack.log_dir}/load-*.log")

    started = max(fault_end, load_end)
    converge_s: float | None
    try:
        wait_until(
            lambda: figures(stack).converged, timeout=CONVERGE_TIMEOUT, interval=0.5, what="catalog equals admin"
        )
        converge_s = round(time.monotonic() - started, 1)
    except TimeoutError:
        converge_s = None
    result = figures(stack)
    changes = accounting(stack)
    healed_at = run.checks["healed_at"]
    row = Row(
        scenario=scenario.name,
        seconds=seconds,
        sent=result.sent,
        applied=result.applied,
        lost=result.lost,
        dup_with_effect=result.dup_with_effect,
        converge_s=converge_s,
        dead_lettered=stack.dead_letters(),
        note="; ".join(run.notes),
        changes_applied=changes.applied,
        changes_skipped_older=changes.skipped_older,
        changes_unaccounted=changes.unaccounted,
        caught_up_s=None if healed_at is None else caught_up_after(stack, healed_at),
    )
    record(row)
    return row, run


def record(row: Row) -> None:
    import json

    ROWS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with ROWS_FILE.open("a") as out:
        out.write(json.dumps(asdict(row)) + "\n")


def table(rows: list[dict]) -> str:
    head = (
        "scenario",
        "load s",
        "changes/s",
        "sent",
        "applied",
        "lost",
        "dup w/ effect",
        "converge s",
        "caught up s",
        "dead-lettered",
        "changes applied / skipped older / unaccounted",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        converge = "not converged" if r["converge_s"] is None else f"{r['converge_s']:.1f}"
        caught_up = "n/a" if r.get("caught_up_s") is None else f"{r['caught_up_s']:.1f}"
        lines.append(
            f"| {r['scenario']} | {r['seconds']:g} | {r['sent'] / r['seconds']:.0f} | {r['sent']} | "
            f"{r['applied']} | {r['lost']} | "
            f"{r['dup_with_effect']} | {converge} | {caught_up} | {r['dead_lettered']} | "
            f"{r.get('changes_applied', 0)} / {r.get('changes_skipped_older', 0)} / "
            f"{r.get('changes_unaccounted', '?')} |"
        )
    return "\n".join(lines)
