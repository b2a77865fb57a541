"""Issue 12's scenarios: a file through ``manage.py import_products``, and the API's authentications.

import     N rows written to a CSV file, then ``python manage.py import_products FILE`` run
           as a process with the admin's production settings (the environment the start
           scripts get), while relay and worker run: products/s from the moment the
           command opened the file (its first row read) until the catalog holds all N.
api_token  C clients create products through the admin API (gunicorn alone) for T seconds
           per variant: ``Authorization: Token``, the session cookie, and HTTP Basic
           (a PBKDF2 hash per request; the password throttle raised for the run, or it
           would answer 429 within seconds): creates/s, p50/p99 request latency.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import threading
import time
from pathlib import Path

import requests

from bench.api_load import _load
from bench.memory import RssSampler
from bench.scenarios import Options, db_time, sessions, wait_for_count
from bench.stack import Resources, wait_relay_ready, wait_web_ready, wait_worker_ready
from bench.stats import rate, verdict
from testkit.paths import REPO
from testkit.postgres import query, scalar
from testkit.users import STAFF_PASSWORD, STAFF_USER

TARGETS = {"import_rate": 20_000, "import_over_bulk": 0.9, "basic_p50_over_token_p50": 20.0}
# Raised for the api_token stack only: the default (10/minute) refuses Basic after ten requests.
UNTHROTTLED = {"API_PASSWORD_RATE_PER_ADDRESS": "100000/minute", "API_PASSWORD_RATE_PER_USER": "100000/minute"}
SUMMARY = re.compile(r"imported (\d+) rows: (\d+) created.* in ([\d.]+) s")


def write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "title", "description", "price", "is_active"])
        for i in range(count):
            out.writerow([f"import-{i}", f"Imported product {i}", "A row of a product feed.", f"{i % 1000}.99", "true"])


def _watch_open(pid: int, path: Path, seen: dict[str, float], stop: threading.Event) -> None:
    """Record when process ``pid`` first holds ``path`` open (the command reads rows from then on)."""
    fd_dir, target = Path(f"/proc/{pid}/fd"), str(path)
    while not stop.is_set():
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(fd_dir / fd) == target:
                    seen["opened"] = time.time()
                    return
        except OSError:
            pass  # an fd closed while listed, or the process not there yet / gone
        stop.wait(0.002)


def import_file(res: Resources, opts: Options) -> dict:
    stack = res.stack("import")
    count = opts.bulk_count
    path = stack.log_dir / "products.csv"
    write_csv(path, count)
    worker = stack.start("catalog-worker")
    relay = stack.start("admin-relay")
    wait_worker_ready(worker)
    wait_relay_ready(relay)
    seen: dict[str, float] = {}
    stop = threading.Event()
    with RssSampler({"worker": worker.pid, "relay": relay.pid}) as sampler:
        launched = time.time()
        popen = res.popen(
            f"{stack.name}-import",
            [sys.executable, "manage.py", "import_products", str(path)],
            env=stack.process_env("admin"),
            cwd=REPO / "admin_app",
        )
        watcher = threading.Thread(target=_watch_open, args=(popen.pid, path, seen, stop), daemon=True)
        watcher.start()
        sampler.watch("producer", popen.pid)  # the command: apart from CPU per change, as bulk's producer
        try:
            popen.wait(max(600.0, count / 50))
        finally:
            stop.set()
        exited = time.time()
        log = (res.log_root / f"{stack.name}-import.log").read_text(errors="replace")
        if popen.returncode:
            raise RuntimeError(f"import_products failed ({popen.returncode}):\n{log[-3000:]}")
        if "opened" not in seen:
            raise RuntimeError("import: never saw the command open its file")
        wait_for_count(
            stack.catalog_db,
            "SELECT count(*) FROM catalog_catalogproduct WHERE version = 1",
            count,
            stall_timeout=opts.stall_timeout,
            what="import: catalog complete",
            logs=[relay, worker],
        )
    applied_end = float(
        scalar(stack.catalog_db, "SELECT extract(epoch FROM max(applied_at)) FROM catalog_catalogproduct")
    )
    committed = float(scalar(stack.admin_db, "SELECT extract(epoch FROM max(occurred_at)) FROM products_outboxevent"))
    messages = dict(query(stack.catalog_db, "SELECT status, count(*) FROM django_celery_results_taskresult GROUP BY 1"))
    summary = SUMMARY.search(log)
    opened = seen["opened"]
    result = {
        "scenario": "import",
        "count": count,
        "seconds": round(applied_end - opened, 3),
        "rate": round(rate(count, applied_end - opened), 1),
        "startup_seconds": round(opened - launched, 3),
        "rate_from_launch": round(rate(count, applied_end - launched), 1),
        "command_seconds": round(exited - opened, 3),
        "command_reported_seconds": float(summary.group(3)) if summary else None,
        "created": int(summary.group(2)) if summary else None,
        "complete_after_exit": round(applied_end - exited, 3),
        "last_event_occurred_after_open": round(committed - opened, 3),
        "messages": messages,
        "events_per_message": round(count / max(1, sum(messages.values())), 1),
        "catalog_db_sessions": sessions(stack.catalog_db),
        "db_active_seconds": db_time(stack),
        "memory": [m for m in sampler.summary() if not m["process"].startswith("producer")],
        "cpu": {m["process"]: m["cpu_seconds"] for m in sampler.summary()},
        "machine": sampler.machine,
    }
    path.unlink()
    res.close_stack(stack)
    return result


def line_import(r: dict, bulk: dict | None) -> str:
    ratio = f" | import/bulk = {r['rate'] / bulk['rate']:.2f}x (bulk {bulk['rate']:,.0f}/s)" if bulk else ""
    return (
        f"import     {r['count']:,} CSV rows in {r['seconds']:.1f} s: {r['rate']:,.0f} products/s end to end "
        f"(file opened -> all applied; {r['rate_from_launch']:,.0f}/s from the process launch, "
        f"{r['startup_seconds']:.2f} s of start-up) | command {r['command_seconds']:.1f} s, catalog complete "
        f"{r['complete_after_exit']:.2f} s after it exited | {sum(r['messages'].values())} messages, "
        f"{r['events_per_message']} events/message{ratio}"
    )


# --- api_token ----------------------------------------------------------------------------


def token_session(stack) -> requests.Session:
    response = requests.post(
        stack.url("admin", "/api/auth/token/"), json={"username": STAFF_USER, "password": STAFF_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {response.json()['token']}"
    return session


def api_token(res: Resources, opts: Options) -> dict:
    """One web stack (gunicorn alone: authentication is the web's cost), the variants one after another."""
    stack = res.stack("api-token")
    stack.start("admin-web", env=UNTHROTTLED)
    wait_web_ready(stack)
    factories = {
        "token": lambda: token_session(stack),
        "session": stack.admin_api,
        "basic": lambda: stack.admin_api(basic_auth=True),
    }
    variants = {name: _load(stack, opts.api_clients, opts.api_seconds, make=make) for name, make in factories.items()}
    res.close_stack(stack)
    token, basic = variants["token"]["p50_ms"], variants["basic"]["p50_ms"]
    return {
        "scenario": "api_token",
        "clients": opts.api_clients,
        "seconds": opts.api_seconds,
        "password_rates": UNTHROTTLED,
        "variants": variants,
        "basic_p50_over_token_p50": round(basic / token, 1) if token else None,
    }


def line_api_token(r: dict) -> str:
    parts = ", ".join(
        f"{name} {v['rate']:.1f} creates/s (p50 {v['p50_ms']:.1f} ms, p99 {v['p99_ms']:.1f} ms, errors "
        f"{sum(v['errors'].values())})"
        for name, v in r["variants"].items()
    )
    return (
        f"api_token  {r['clients']} clients x {r['seconds']:.0f} s per variant, gunicorn alone: {parts} | "
        f"Basic p50 / token p50 = {r['basic_p50_over_token_p50']}x"
    )


def target_lines(results: dict) -> list[str]:
    out = []

    def check(name: str, value: str, ok: bool, target: str) -> None:
        out.append(verdict(name, value, ok, target))

    if i := results.get("import"):
        cpus = os.cpu_count()
        check("import products/s", f"{i['rate']:,.0f}", i["rate"] >= TARGETS["import_rate"], f">= 20,000; {cpus} CPUs")
        if b := results.get("bulk"):
            ratio = i["rate"] / b["rate"]
            check("import / bulk (same run)", f"{ratio:.2f}x", ratio >= TARGETS["import_over_bulk"], ">= 0.9x")
    if a := results.get("api_token"):
        ratio = a["basic_p50_over_token_p50"]
        met = ratio is not None and ratio >= TARGETS["basic_p50_over_token_p50"]
        check("Basic p50 / token p50", f"{ratio}x", met, ">= 20x")
    return out
