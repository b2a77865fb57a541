"""Product creates/s through the admin API (gunicorn, the admin-web start script).

Each client thread logs in once through /admin/login/ and then posts with the
session and its CSRF token (HTTP Basic would cost a PBKDF2 hash per request). The
same load runs against two stacks, in alternating rounds: one on the machine's
broker, one on a throw-away broker that is stopped before the first round (its
relay then fails its publishes and backs off, its worker tries to reconnect).
Stack "full" runs web, relay and worker, as deployed: the pipeline's own work
per create competes with gunicorn for the CPUs. Stack "web" runs gunicorn alone:
whether the web path itself depends on the broker.
"""

from __future__ import annotations

import threading
import time
import uuid

from bench.scenarios import Options
from bench.stack import Resources, wait_relay_ready, wait_web_ready, wait_worker_ready
from bench.stats import percentile, rate
from testkit.postgres import scalar
from testkit.waiting import wait_until


def _load(stack, clients: int, seconds: float, warmup: float = 1.0, make=None) -> dict:
    """``clients`` threads posting creates for ``seconds``; ``make()`` gives each its client (default: a session)."""
    url = stack.url("admin", "/api/products/")
    sessions = [(make or stack.admin_api)() for _ in range(clients)]
    tag = uuid.uuid4().hex[:6]
    window: dict[str, float] = {}

    def open_window() -> None:  # run once, by the last thread to arrive, before any is released
        window["began"] = time.monotonic()
        window["end"] = window["began"] + seconds

    barrier = threading.Barrier(clients + 1, action=open_window)
    results = [{"ok": 0, "errors": {}, "latencies": []} for _ in range(clients)]

    def client(n: int) -> None:
        session, mine = sessions[n], results[n]
        i = 0
        # Warm-up: first requests on each gunicorn worker and connection are not counted.
        warm_until = time.monotonic() + warmup
        while time.monotonic() < warm_until:
            session.post(url, json={"sku": f"w{tag}-{n}-{i}", "title": "warm", "price": "1.00"}, timeout=30)
            i += 1
        barrier.wait()
        end = window["end"]
        while True:
            started = time.monotonic()
            if started >= end:
                break
            response = session.post(
                url, json={"sku": f"a{tag}-{n}-{i}", "title": "API bench", "price": "9.99"}, timeout=30
            )
            i += 1
            if response.status_code == 201:
                mine["ok"] += 1
                mine["latencies"].append((time.monotonic() - started) * 1000)
            else:
                mine["errors"][response.status_code] = mine["errors"].get(response.status_code, 0) + 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(seconds + 60)
    # A request begun before the end is counted, so the window closes at the last thread's return.
    elapsed = time.monotonic() - window["began"]
    ok = sum(r["ok"] for r in results)
    errors: dict[int, int] = {}
    for r in results:
        for status, n in r["errors"].items():
            errors[status] = errors.get(status, 0) + n
    latencies = [v for r in results for v in r["latencies"]]
    return {
        "creates": ok,
        "seconds": round(elapsed, 3),
        "rate": round(rate(ok, elapsed), 1),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


def _start(res: Resources, mode: str, side: str, broker=None):
    """A stack for one (mode, side); its processes are started, not yet waited for."""
    stack = res.stack(f"api-{mode}-{side}", broker=broker)
    started = {}
    if mode == "full":
        started["worker"] = stack.start("catalog-worker")
        started["relay"] = stack.start("admin-relay")
    stack.start("admin-web")
    return stack, started


def _caught_up(stack) -> bool:
    """The broker-up stack has synced every create so far (so its next round starts from idle)."""
    admin = scalar(stack.admin_db, "SELECT count(*) FROM products_product")
    return scalar(stack.catalog_db, "SELECT count(*) FROM catalog_catalogproduct") >= admin


def _summary(runs: list[dict]) -> dict:
    """The median round: a burst of someone else's load on the shared machine hits one round, not the figure."""

    def median(key: str) -> float:
        return round(percentile([r[key] for r in runs], 50), 2)

    return {
        "rate": median("rate"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "rates": [r["rate"] for r in runs],
        "runs": runs,
    }


def api(res: Resources, opts: Options) -> dict:
    """Every stack is started once; rounds then alternate up/down (and the modes), so drift hits all alike.

    The broker-down stacks share one throw-away broker node, stopped once they are all up.
    """
    broker = res.throwaway_broker()
    stacks = {}
    for mode in opts.api_stacks:
        for side in ("up", "down"):
            stacks[mode, side] = _start(res, mode, side, broker if side == "down" else None)
    for stack, started in stacks.values():
        if "worker" in started:
            wait_worker_ready(started["worker"])
            wait_relay_ready(started["relay"])
        wait_web_ready(stack)
    broker.stop()
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in stacks}
    for round_no in range(opts.api_rounds):
        # Odd rounds go down-then-up, so neither side always follows the other.
        sides = ("up", "down") if round_no % 2 == 0 else ("down", "up")
        for mode in opts.api_stacks:
            for side in sides:
                stack = stacks[mode, side][0]
                runs[mode, side].append(_load(stack, opts.api_clients, opts.api_seconds))
                if mode == "full" and side == "up":  # let its pipeline finish before the next load
                    wait_until(
                        lambda s=stack: _caught_up(s),
                        timeout=300,
                        interval=0.5,
                        what="api: broker-up catalog caught up",
                    )
    modes = {}
    for mode in opts.api_stacks:
        up, down = _summary(runs[mode, "up"]), _summary(runs[mode, "down"])
        down["pending_outbox_after"] = stacks[mode, "down"][0].pending_outbox()
        modes[mode] = {
            "up": up,
            "down": down,
            "down_over_up": round(down["rate"] / up["rate"], 3) if up["rate"] else None,
        }
    for stack, _started in stacks.values():
        res.close_stack(stack)
    return {
        "scenario": "api",
        "clients": opts.api_clients,
        "seconds": opts.api_seconds,
        "rounds": opts.api_rounds,
        "modes": modes,
    }
