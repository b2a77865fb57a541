"""A million products: ``python -m bench.scale`` (``make bench-scale``) from the repository root.

On one stack of its own (databases from migrated templates, its own vhost; relay, worker
and catalog web through the start scripts), one after another:

  import   N rows of a CSV file through ``manage.py import_products`` while relay and worker
           run: products/s from the file opened until the catalog holds all N; peak RSS of
           the command, the relay and the worker.
  drift    the drift check on N agreeing products, every pair read (the way before range
           checksums) and by range checksums; then 10 planted differences (missing, stale,
           extra, ahead) found and named by range checksums.
  resync   ``manage.py resync_catalog`` of every product while relay and worker run: the
           command's start until the worker has handled every event; peak RSS; the relay's
           drain rate over the first and the last tenth of the events (claim cost with the
           backlog the command builds up).
  read     the catalog's public read API: p50/p99 of a page at the first product and at
           the Nth (cursor pagination).

Prints one line per operation and MET/MISS lines against the targets; writes
bench/results/<name>.json and <name>.png (name: scale by default). Everything it created
is removed at the end, on error and on Ctrl-C too. Checks free disk first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import requests

from bench.import_scenario import SUMMARY, _watch_open, write_csv
from bench.memory import RssSampler
from bench.scenarios import wait_for_count
from bench.stack import Resources, wait_relay_ready, wait_worker_ready
from bench.stats import percentile, rate, verdict
from testkit.paths import REPO
from testkit.postgres import pg_connect, query, scalar
from testkit.waiting import wait_until

TARGETS = {
    "import_rate": 20_000,
    "resync_rate": 20_000,
    "drift_agree_s": 10.0,
    "drift_planted_s": 15.0,
    "read_p99_ms": 50.0,
    "rss_mb": 200.0,
}
RESULTS = REPO / "bench" / "results"
# The steps after the import, in the order they run (``--only`` picks some).
STEPS = ("drift", "resync", "prune", "read")
# Bytes of disk a million products take here, with the CSV, outbox and WAL (measured: about
# 3 GB at the peak); the run refuses to start with less than twice that free.
DISK_PER_PRODUCT = 3_000
# Raised for the run: the read API's default throttle (3000/min) would answer 429 mid-sample.
OVERRIDES = {"CATALOG_PUBLIC_API_RATE": "1000000/min", "CATALOG_SYNC_API_RATE": "1000000/min"}

# The resync statement for one product: an outbox row whose trigger wakes the relay.
PROBE_SQL = """
    INSERT INTO products_outboxevent (product_id, version, op, occurred_at, data)
    SELECT id, version, 'upsert', updated_at, products_event_data(p) FROM products_product AS p WHERE id = %s
    RETURNING id
"""

# Events the catalog's workers have handled (applied or skipped as stale), from their counters.
COUNTED_SQL = "SELECT coalesce(sum(applied + skipped), 0) FROM catalog_synccounter"

PUBLISHED_AT_SQL = "SELECT extract(epoch FROM published_at) FROM products_outboxevent WHERE id = %s"

DRIFT_SCRIPT = """
import json, time
from sync.drift import find_differences
started = time.perf_counter()
d = find_differences(grace_seconds=0, by_ranges={by_ranges})
seconds = time.perf_counter() - started
print("RESULT " + json.dumps({{"seconds": seconds, "found": {{k: sorted(v) for k, v in d.found.items()}},
    "pairs_read": d.pairs_read, "ranges_compared": d.ranges_compared,
    "admin_products": d.admin_products, "catalog_products": d.catalog_products}}))
"""


def check_disk(count: int) -> dict:
    need = 2 * count * DISK_PER_PRODUCT
    data_dir = scalar("postgres", "SELECT setting FROM pg_settings WHERE name = 'data_directory'")
    free = min(shutil.disk_usage(REPO).free, shutil.disk_usage(data_dir if os.path.exists(data_dir) else "/").free)
    return {"free_gb": round(free / 1e9, 1), "needed_gb": round(need / 1e9, 1), "enough": free >= need}


def admin_python(res: Resources, stack, name: str, argv: list[str], *, timeout: float) -> str:
    popen = res.popen(
        f"{stack.name}-{name}", [sys.executable, *argv], env=stack.process_env("admin"), cwd=REPO / "admin_app"
    )
    popen.wait(timeout)
    log = (res.log_root / f"{stack.name}-{name}.log").read_text(errors="replace")
    if popen.returncode:
        raise RuntimeError(f"{name} failed ({popen.returncode}):\n{log[-3000:]}")
    return log


def run_import(res: Resources, stack, count: int, worker, relay) -> dict:
    path = stack.log_dir / "products.csv"
    write_csv(path, count)
    seen: dict[str, float] = {}
    stop = threading.Event()
    with RssSampler({"worker": worker.pid, "relay": relay.pid}) as sampler:
        popen = res.popen(
            f"{stack.name}-import",
            [sys.executable, "manage.py", "import_products", str(path)],
            env=stack.process_env("admin"),
            cwd=REPO / "admin_app",
        )
        threading.Thread(target=_watch_open, args=(popen.pid, path, seen, stop), daemon=True).start()
        sampler.watch("import command", popen.pid)
        try:
            popen.wait(1800)
        finally:
            stop.set()
        exited = time.time()
        log = (res.log_root / f"{stack.name}-import.log").read_text(errors="replace")
        if popen.returncode or "opened" not in seen:
            raise RuntimeError(f"import_products failed ({popen.returncode}):\n{log[-3000:]}")
        # The workers' counters (a row per worker), not a count of the whole catalog table:
        # polling a count(*) of a million rows would take its share of the measured machine.
        wait_for_count(
            stack.catalog_db,
            COUNTED_SQL,
            count,
            stall_timeout=120,
            what="import: catalog complete",
            logs=[relay, worker],
        )
        if int(scalar(stack.catalog_db, "SELECT count(*) FROM catalog_catalogproduct")) != count:
            raise RuntimeError("import: the workers handled every event but the catalog lacks products")
    applied_end = float(
        scalar(stack.catalog_db, "SELECT extract(epoch FROM max(applied_at)) FROM catalog_catalogproduct")
    )
    pace = relay_pace(stack, 0, count)
    path.unlink()
    summary = SUMMARY.search(log)
    return {
        "count": count,
        "seconds": round(applied_end - seen["opened"], 2),
        "rate": round(rate(count, applied_end - seen["opened"]), 1),
        "command_seconds": round(exited - seen["opened"], 2),
        "command_rate": round(count / float(summary.group(3)), 1) if summary else None,
        "relay_rate_first_tenth": pace["first"],
        "relay_rate_last_tenth": pace["last"],
        "memory": sampler.summary(),
        "machine": sampler.machine,
    }


def drift(res: Resources, stack, *, by_ranges: bool, name: str) -> dict:
    log = admin_python(
        res, stack, name, ["manage.py", "shell", "-c", DRIFT_SCRIPT.format(by_ranges=by_ranges)], timeout=600
    )
    line = next(line for line in log.splitlines() if line.startswith("RESULT "))
    result: dict = json.loads(line.removeprefix("RESULT "))
    result["seconds"] = round(result["seconds"], 2)
    return result


def plant(stack, count: int) -> dict[str, list[int]]:
    """10 differences spread over the id space, written straight into each database."""
    ids = [r[0] for r in query(stack.admin_db, "SELECT id FROM products_product ORDER BY id")]
    pick = [ids[i * (len(ids) // 10) + 17] for i in range(10)]
    planted = {
        "missing": pick[0:3],
        "stale": pick[3:6],
        "ahead": pick[6:8],
        "extra": [ids[-1] + 1000, ids[len(ids) // 2] + 0],
    }
    # stale: the admin moved on (a version the catalog never got); ahead: the catalog holds a higher one.
    stack.q("admin", "UPDATE products_product SET version = version + 1 WHERE id = ANY(%s)", [planted["stale"]])
    stack.q("catalog", "DELETE FROM catalog_catalogproduct WHERE product_id = ANY(%s)", [planted["missing"]])
    stack.q(
        "catalog",
        "UPDATE catalog_catalogproduct SET version = version + 3 WHERE product_id = ANY(%s)",
        [planted["ahead"]],
    )
    # extra: one id beyond the admin's, one the admin deleted long ago (its outbox rows pruned).
    middle = planted["extra"][1]
    stack.q("admin", "DELETE FROM products_outboxevent WHERE product_id = %s", [middle])
    stack.q("admin", "DELETE FROM products_product WHERE id = %s", [middle])
    stack.q(
        "catalog",
        "INSERT INTO catalog_catalogproduct SELECT %s, sku || '-x', title, description, price, image_url, is_active,"
        " version, deleted, event_id, occurred_at, applied_at FROM catalog_catalogproduct WHERE product_id = %s",
        [planted["extra"][0], ids[0]],
    )
    return {k: sorted(v) for k, v in planted.items()}


def relay_pace(stack, first_event: int, count: int) -> dict[str, float]:
    """The relay's publishing pace over the first and the last tenth of ``count`` events after
    ``first_event``: a claim whose cost grew with the backlog would slow the first tenth."""
    tenth = max(1, count // 10)
    pace = {}
    for label, lo in (("first", first_event), ("last", first_event + count - tenth)):
        span = scalar(
            stack.admin_db,
            "SELECT extract(epoch FROM max(published_at) - min(published_at)) FROM products_outboxevent"
            " WHERE id > %s AND id <= %s",
            [lo, lo + tenth],
        )
        pace[label] = round(rate(tenth, float(span or 0)), 1)
    return pace


def counted(stack) -> int:
    return int(scalar(stack.catalog_db, COUNTED_SQL))


def run_resync(res: Resources, stack, count: int, worker, relay) -> dict:
    before = counted(stack)
    first_event = int(scalar(stack.admin_db, "SELECT coalesce(max(id), 0) FROM products_outboxevent"))
    with RssSampler({"worker": worker.pid, "relay": relay.pid}) as sampler:
        started = time.time()
        popen = res.popen(
            f"{stack.name}-resync",
            [sys.executable, "manage.py", "resync_catalog", "--batch-size", "5000"],
            env=stack.process_env("admin"),
            cwd=REPO / "admin_app",
        )
        sampler.watch("resync command", popen.pid)
        popen.wait(1800)
        exited = time.time()
        if popen.returncode:
            raise RuntimeError(f"resync_catalog failed ({popen.returncode})")
        wait_for_count(
            stack.catalog_db,
            COUNTED_SQL,
            before + count,
            stall_timeout=120,
            what="resync: every event handled",
            logs=[relay, worker],
        )
        done = time.time()
    pace = relay_pace(stack, first_event, count)
    return {
        "count": count,
        "seconds": round(done - started, 2),
        "rate": round(rate(count, done - started), 1),
        "command_seconds": round(exited - started, 2),
        "relay_rate_first_tenth": pace["first"],
        "relay_rate_last_tenth": pace["last"],
        "memory": sampler.summary(),
        "machine": sampler.machine,
    }


def probe_latencies(stack, product_id: int, until, *, limit: float) -> list[float]:
    """One resync event at a time (the trigger NOTIFYs the relay), each timed from its commit
    to its ``published_at``, until ``until()`` is true or ``limit`` seconds are up."""
    out: list[float] = []
    conn = pg_connect(stack.admin_db)
    conn.autocommit = True
    deadline = time.time() + limit
    try:
        with conn.cursor() as cur:
            while not until() and time.time() < deadline:
                cur.execute(PROBE_SQL, [product_id])
                (event_id,) = cur.fetchone()
                committed = time.time()
                while time.time() < deadline:
                    cur.execute(
                        "SELECT extract(epoch FROM published_at) FROM products_outboxevent WHERE id = %s", [event_id]
                    )
                    (published,) = cur.fetchone()
                    if published is not None:
                        out.append(max(0.0, float(published) - committed))
                        break
                    time.sleep(0.005)
                time.sleep(0.05)
    finally:
        conn.close()
    return out


def run_prune(res: Resources, stack, relay) -> dict:
    """Every published row pruned by a relay whose retention has passed, while probe events
    measure how long the relay leaves a new change waiting."""
    published = int(scalar(stack.admin_db, "SELECT count(*) FROM products_outboxevent WHERE published_at IS NOT NULL"))
    size_before = int(scalar(stack.admin_db, "SELECT pg_total_relation_size('products_outboxevent')"))
    product_id = int(scalar(stack.admin_db, "SELECT min(id) FROM products_product"))
    baseline = probe_latencies(stack, product_id, lambda: False, limit=5)
    last_id = int(scalar(stack.admin_db, "SELECT max(id) FROM products_outboxevent"))
    relay.stop()
    started = time.time()
    pruner = stack.start("admin-relay", env={"OUTBOX_RETENTION_HOURS": "0.0003"}, suffix="-prune")
    wait_relay_ready(pruner)

    def pruned() -> bool:
        return not query(stack.admin_db, "SELECT 1 FROM products_outboxevent WHERE id <= %s LIMIT 1", [last_id])

    during = probe_latencies(stack, product_id, pruned, limit=600)
    seconds = time.time() - started
    stats = query(
        stack.admin_db,
        "SELECT n_live_tup, n_dead_tup, autovacuum_count, last_autovacuum IS NOT NULL"
        " FROM pg_stat_user_tables WHERE relname = 'products_outboxevent'",
    )[0]
    size_after = int(scalar(stack.admin_db, "SELECT pg_total_relation_size('products_outboxevent')"))
    return {
        "published_rows": published,
        "seconds": round(seconds, 1),
        "rate": round(rate(published, seconds), 1),
        "probe_ms_before": {"p50": round(percentile(baseline, 50) * 1000, 1), "max": round(max(baseline) * 1000, 1)},
        "probe_ms_during": {
            "count": len(during),
            "p50": round(percentile(during, 50) * 1000, 1),
            "p99": round(percentile(during, 99) * 1000, 1),
            "max": round(max(during) * 1000, 1),
        },
        "table_mb_before": round(size_before / 1e6),
        "table_mb_after": round(size_after / 1e6),
        "live_rows_after": stats[0],
        "dead_rows_after": stats[1],
        "autovacuums": stats[2],
    }


def read_api(stack, count: int, samples: int = 300) -> dict:
    session = requests.Session()
    deepest = int(
        scalar(
            stack.catalog_db,
            "SELECT product_id FROM catalog_catalogproduct ORDER BY product_id OFFSET %s LIMIT 1",
            [count - 2],
        )
    )
    cursor = base64.b64encode(urlencode({"p": deepest}).encode()).decode()
    out = {}
    for label, params in (("first", {}), ("deepest", {"cursor": cursor})):
        url = stack.url("catalog", "/api/products/")
        assert session.get(url, params=params, timeout=10).status_code == 200
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            response = session.get(url, params=params, timeout=10)
            times.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
        out[label] = {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}
    out["deepest_product"] = deepest
    return out


def peak(memory: list[dict]) -> dict[str, float]:
    return {m["process"]: m["peak_mb"] for m in memory}


def target_lines(r: dict) -> list[str]:
    """MET/MISS lines for the steps that ran (the import always does)."""
    t = TARGETS
    cpus = os.cpu_count()
    out = []
    for step in ("import", "resync"):
        if step not in r:
            continue
        out.append(
            verdict(
                f"{step} products/s ({r['count']:,})",
                f"{r[step]['rate']:,.0f}",
                r[step]["rate"] >= t[f"{step}_rate"],
                f">= 20,000; {cpus} CPUs",
            )
        )
        largest = max(peak(r[step]["memory"]).values())
        out.append(verdict(f"{step} RSS peak, every process", f"{largest:.0f} MB", largest <= t["rss_mb"], "<= 200 MB"))
    if d := r.get("drift_ranges"):
        seconds = d["seconds"]
        out.append(
            verdict(
                f"drift check, agreeing ({r['count']:,})", f"{seconds:.2f} s", seconds <= t["drift_agree_s"], "<= 10 s"
            )
        )
    if d := r.get("drift_planted"):
        out.append(
            verdict(
                f"drift check, 10 planted ({r['count']:,})",
                f"{d['seconds']:.2f} s, {d['named']}/10 named",
                d["seconds"] <= t["drift_planted_s"] and d["named"] == 10,
                "<= 15 s, all 10",
            )
        )
    if p := r.get("prune"):
        waited = p["probe_ms_during"]["max"]
        out.append(verdict("a change waits during the prune", f"max {waited:.0f} ms", waited <= 1000, "<= 1 s"))
    for label in ("first", "deepest") if "read" in r else ():
        p99 = r["read"][label]["p99_ms"]
        out.append(verdict(f"read API page p99, {label}", f"{p99:.1f} ms", p99 <= t["read_p99_ms"], "<= 50 ms"))
    return out


def draw(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, times) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = ["import", "resync"]
    rates.bar(names, [r[n]["rate"] for n in names], color="#4c72b0")
    rates.axhline(20_000, color="red", linestyle="--", label="target 20,000/s")
    rates.set_title(f"{r['count']:,} products: end to end, products/s")
    rates.legend()
    labels = ["drift: every pair", "drift: checksums", "drift: 10 planted", "read p99 first", "read p99 deepest"]
    values = [
        r["drift_pairs"]["seconds"],
        r["drift_ranges"]["seconds"],
        r["drift_planted"]["seconds"],
        r["read"]["first"]["p99_ms"] / 1000,
        r["read"]["deepest"]["p99_ms"] / 1000,
    ]
    times.barh(labels, values, color=["#999999", "#4c72b0", "#4c72b0", "#55a868", "#55a868"])
    times.set_xscale("log")
    times.set_xlabel("seconds (log)")
    times.set_title("drift check (10 s / 15 s), read page p99 (0.05 s)")
    fig.suptitle(f"bench-scale at {r['commit']} ({r['finished_at']}, load {r['load_before']})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--name", help="results file name (default: scale; scale-partial with --only)")
    parser.add_argument(
        "--only",
        type=lambda v: set(v.split(",")),
        default=set(STEPS),
        help=f"comma-separated steps after the import, of {','.join(STEPS)} (default: all)",
    )
    args = parser.parse_args()
    if args.only - set(STEPS):
        parser.error(f"--only: unknown step(s) {','.join(sorted(args.only - set(STEPS)))}; known: {','.join(STEPS)}")
    complete = args.only == set(STEPS)
    name = args.name or ("scale" if complete else "scale-partial")
    disk = check_disk(args.count)
    print(f"disk: {disk['free_gb']} GB free, about {disk['needed_gb']} GB needed", flush=True)
    if not disk["enough"]:
        print("bench-scale: not enough free disk for this count; free some or pass a smaller --count", file=sys.stderr)
        return 2
    log_root = REPO / "var" / "bench-scale" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log_root.mkdir(parents=True, exist_ok=True)
    res = Resources(log_root, "production", dict(OVERRIDES))
    results: dict = {
        "count": args.count,
        "commit": os.popen("git rev-parse --short HEAD").read().strip(),  # noqa: S605
        "load_before": os.popen("uptime").read().strip().split("load average: ")[-1],  # noqa: S605
        "cpus": os.cpu_count(),
        "disk": disk,
    }
    try:
        stack = res.stack("scale")
        worker, relay = stack.start("catalog-worker"), stack.start("admin-relay")
        stack.start("catalog-web")
        wait_worker_ready(worker)
        wait_relay_ready(relay)
        wait_until(
            lambda: requests.get(stack.url("catalog", "/healthz"), timeout=3).status_code == 200,
            timeout=90,
            what="catalog web answers",
        )
        r = results["import"] = run_import(res, stack, args.count, worker, relay)
        print(
            f"import    {r['count']:,} rows in {r['seconds']:.1f} s: {r['rate']:,.0f} products/s end to end "
            f"(command alone {r['command_rate'] or 0:,.0f}/s, committing chunks the relay publishes meanwhile: "
            f"relay {r['relay_rate_first_tenth']:,.0f}/s first tenth, {r['relay_rate_last_tenth']:,.0f}/s last tenth) "
            f"| RSS peak MB {peak(r['memory'])}",
            flush=True,
        )
        if "drift" in args.only:
            # Everything published long enough ago: nothing is in flight for the drift check.
            stack.q("admin", "UPDATE products_outboxevent SET published_at = now() - interval '1 hour'")
            for key, by_ranges in (("drift_pairs", False), ("drift_ranges", True)):
                r = results[key] = drift(res, stack, by_ranges=by_ranges, name=key)
                print(
                    f"{key:<13} agreeing: {r['seconds']:.2f} s, {r['pairs_read']:,} pairs read, "
                    f"{r['ranges_compared']:,} ranges compared, differences {sum(map(len, r['found'].values()))}",
                    flush=True,
                )
            planted = plant(stack, args.count)
            r = results["drift_planted"] = drift(res, stack, by_ranges=True, name="drift_planted")
            r["planted"] = planted
            r["named"] = sum(len(set(planted[k]) & set(r["found"].get(k, []))) for k in planted)
            print(
                f"drift planted 10: {r['seconds']:.2f} s, {r['named']}/10 named ({r['found']}), "
                f"{r['pairs_read']:,} pairs read, {r['ranges_compared']:,} ranges compared",
                flush=True,
            )
        if "resync" in args.only:
            live = int(scalar(stack.admin_db, "SELECT count(*) FROM products_product"))
            r = results["resync"] = run_resync(res, stack, live, worker, relay)
            print(
                f"resync    {r['count']:,} products in {r['seconds']:.1f} s: {r['rate']:,.0f} products/s end to end "
                f"(command {r['command_seconds']:.1f} s) | relay {r['relay_rate_first_tenth']:,.0f}/s first tenth, "
                f"{r['relay_rate_last_tenth']:,.0f}/s last tenth | RSS peak MB {peak(r['memory'])}",
                flush=True,
            )
        if "prune" in args.only:
            r = results["prune"] = run_prune(res, stack, relay)
            print(
                f"prune     {r['published_rows']:,} published rows in {r['seconds']:.1f} s by the relay"
                f" ({r['rate']:,.0f}/s) |"
                f" a new change waited p50 {r['probe_ms_during']['p50']:.0f} ms,"
                f" max {r['probe_ms_during']['max']:.0f} ms"
                f" meanwhile (before: p50 {r['probe_ms_before']['p50']:.0f} ms) | outbox {r['table_mb_before']} MB ->"
                f" {r['table_mb_after']} MB, {r['dead_rows_after']:,} dead rows, {r['autovacuums']} autovacuums",
                flush=True,
            )
        if "read" in args.only:
            r = results["read"] = read_api(stack, args.count)
            print(
                f"read API  page p50/p99: first {r['first']['p50_ms']:.1f}/{r['first']['p99_ms']:.1f} ms, at product "
                f"{r['deepest_product']:,} {r['deepest']['p50_ms']:.1f}/{r['deepest']['p99_ms']:.1f} ms",
                flush=True,
            )
        results["sizes_mb"] = {
            side: round(int(scalar(db, "SELECT pg_database_size(current_database())")) / 1e6)
            for side, db in (("admin", stack.admin_db), ("catalog", stack.catalog_db))
        }
    finally:
        problems = res.close()
        for problem in problems:
            print(f"clean-up: {problem}", file=sys.stderr)
    results["load_after"] = os.popen("uptime").read().strip().split("load average: ")[-1]  # noqa: S605
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = target_lines(results)
    results["targets"] = lines
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    if complete:  # the chart shows every step
        draw(results, RESULTS / f"{name}.png")
    print(f"written: bench/results/{name}.json" + (f", bench/results/{name}.png" if complete else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
