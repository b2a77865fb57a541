"""Benchmark of the product-sync path: ``python -m bench.run`` from the repository root.

Starts what it needs (its own databases from migrated templates, its own vhosts on
the machine's RabbitMQ, a throw-away RabbitMQ node for the broker-down run, the
relay, worker and web through the docker/start scripts), runs each scenario,
prints one line of figures per scenario and the targets, and writes
bench/results/<name>.json and <name>.png (name: latest by default). Everything it
created is removed at the end, on error and on Ctrl-C too.

Scenarios (``--only``/``--skip``, comma-separated):
  bulk       N changes committed through the admin's service layer while relay and
             worker run: products/s from the first change until the catalog holds
             every one at its version, and the commit phase alone.
  drain      the same N committed with no relay running, then the relay started:
             what relay + worker alone sustain (relay start -> all applied).
  steady     R changes/s for S seconds, one per transaction, from C concurrent
             connections: commit -> applied latency from the system's own
             timestamps (applied_at - occurred_at).
  reference  the tutorial's design with pika: one persistent, confirmed message per
             change, one consumer, single-row upsert then ack; same N, same broker
             and PostgreSQL.
  reference_steady  the same design paced at steady's rate, for as long, from as many
             clients: its CPU per change is what steady's is held against (selecting
             steady runs it too; decision 0026).
  memory     peak RSS of the relay and of each worker process during bulk and drain
             (measured while those run; selecting it alone runs bulk).
  capacity   single-change transactions at a rising rate (100, 200, 400, … /s) until
             commit -> applied p99 > 100 ms or the producers fall behind: the highest
             rate that held, beside the reference's (selecting it runs reference too).
  import     N rows of a CSV file through manage.py import_products (bench/import_scenario.py).
  api_token  creates/s and latency through the admin API with a token, a session, HTTP Basic.
  api        creates/s through the admin API (gunicorn) with C session clients,
             T seconds per round, rounds alternating broker up / broker stopped
             (a throw-away node), on the full stack (web + relay + worker) and on
             the web alone.

Tunables the system reads can be set per run with --env KEY=VALUE (repeatable) or
in the environment: RELAY_BATCH_SIZE, RELAY_CLAIM_SIZE, RELAY_LINGER, RELAY_POLL_INTERVAL,
CATALOG_WORKER_CONCURRENCY, CATALOG_WORKER_PREFETCH, WEB_CONCURRENCY.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from bench.capacity import target_lines as single_edit_targets
from bench.cpu import annotate, per_change_part
from bench.stack import TUNABLES, Resources, drop_stale, stale_resources
from bench.stats import verdict
from testkit.broker import Broker
from testkit.paths import REPO
from testkit.postgres import query

ALL = ("bulk", "drain", "steady", "reference", "reference_steady", "memory", "api", "capacity", "import", "api_token")
# bulk beside its reference, steady beside the reference at its rate
ORDER = ("bulk", "reference", "import", "drain", "steady", "reference_steady", "capacity", "api", "api_token")
RESULTS = REPO / "bench" / "results"

TARGETS = {
    "bulk_rate": 20_000,
    "bulk_over_reference": 10.0,
    "steady_p50_ms": 15.0,
    "steady_p99_ms": 100.0,
    "relay_rss_mb": 120.0,
    "worker_rss_mb": 150.0,
    "api_down_over_up_min": 0.9,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", help=f"scenarios to run, comma-separated, of: {','.join(ALL)}")
    p.add_argument("--skip", help="scenarios to leave out, comma-separated")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 5,000 bulk/reference changes, 5 s steady, 3 s API (explicit sizes win)",
    )
    p.add_argument("--bulk-count", type=int, help="changes in bulk, drain, import (and reference); default 100000")
    p.add_argument("--bulk-txn", type=int, default=500, help="changes per admin transaction in bulk/drain")
    p.add_argument(
        "--bulk-mode",
        choices=["create", "import", "auto"],
        default="auto",
        help="create: product_create per change inside each transaction; import: product_import "
        "per transaction (if the service layer has it); auto: import when available",
    )
    p.add_argument("--steady-rate", type=float, default=200.0, help="changes per second in steady")
    p.add_argument("--steady-seconds", type=float, help="duration of steady; default 30")
    p.add_argument(
        "--steady-clients",
        type=int,
        default=4,
        help="concurrent producer connections sharing the steady rate (as staff requests would)",
    )
    p.add_argument(
        "--steady-drain-limit",
        type=float,
        default=120.0,
        help="seconds to wait after the steady producer for the catalog to catch up; changes still "
        "not applied then count as infinitely late",
    )
    p.add_argument("--ref-count", type=int, help="changes in reference; default: the bulk count")
    p.add_argument("--ref-prefetch", type=int, default=100, help="reference consumer's prefetch (basic.qos)")
    p.add_argument(
        "--ref-queue-type",
        choices=["classic", "quorum"],
        default="classic",
        help="reference queue type (the tutorial's design: a classic durable queue)",
    )
    p.add_argument(
        "--capacity-path",
        choices=["sql", "service"],
        default="sql",
        help="capacity producers: product_create's statement (sql) or the service function itself",
    )
    p.add_argument(
        "--ref-clients", type=int, default=4, help="concurrent reference producers (each saves, then publishes)"
    )
    p.add_argument(
        "--ref-no-admin-save",
        dest="ref_admin_save",
        action="store_false",
        help="reference producer publishes without first saving the product in its admin database "
        "(the tutorial's view saves it; decision 0022)",
    )
    p.add_argument("--api-clients", type=int, default=4)
    p.add_argument("--api-seconds", type=float, help="measured seconds per API run; default 10")
    p.add_argument(
        "--api-rounds",
        type=int,
        default=3,
        help="alternating broker-up/broker-down load rounds; figures are the median round",
    )
    p.add_argument(
        "--api-stacks",
        default="full,web",
        help="comma-separated: full = web + relay + worker running during the API load (as deployed); "
        "web = gunicorn alone (does the web path itself depend on the broker?)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"environment for the system's processes (e.g. {', '.join(TUNABLES[:2])})",
    )
    p.add_argument(
        "--settings",
        choices=["production", "local"],
        default="production",
        help="Django settings flavour of every process (production: DEBUG off, secrets from env)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the producer, relay and worker processes during bulk and steady (perturbs their "
        "figures); raw stacks and summaries in bench/results/profile/<scenario>/",
    )
    p.add_argument("--name", default="latest", help="results file name under bench/results/ (default latest)")
    p.add_argument(
        "--clean-stale",
        action="store_true",
        help="first drop bench_* databases and bench-* vhosts left by killed runs (not while another bench runs)",
    )
    p.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib needed)")
    args = p.parse_args(argv)

    chosen = set(ALL) if not args.only else {s.strip() for s in args.only.split(",") if s.strip()}
    chosen -= {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    unknown = chosen - set(ALL)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = chosen
    quick = args.quick
    args.bulk_count = args.bulk_count or (5_000 if quick else 100_000)
    args.steady_seconds = args.steady_seconds or (5.0 if quick else 30.0)
    args.api_seconds = args.api_seconds or (3.0 if quick else 10.0)
    overrides = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--env wants KEY=VALUE, got {item!r}")
        overrides[key] = value
    args.overrides = overrides
    args.api_stacks = tuple(m.strip() for m in args.api_stacks.split(",") if m.strip())
    if not args.api_stacks or set(args.api_stacks) - {"full", "web"}:
        p.error("--api-stacks takes full, web or both")
    return args


# --- one line per scenario --------------------------------------------------------------


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def cpu_part(r: dict) -> str:
    """' | cpu s: producer 12.1, relay 3.0, … (machine 93% busy)' from a scenario's CPU accounting."""
    if not r.get("cpu"):
        return ""
    machine = r["machine"]
    procs = ", ".join(f"{name} {sec:.1f}" for name, sec in r["cpu"].items())
    services = ", ".join(f"{name} {sec:.1f}" for name, sec in machine.get("services_cpu_seconds", {}).items())
    db = ", ".join(f"{name} DB {sec:.1f}" for name, sec in r.get("db_active_seconds", {}).items())
    return (
        f" | cpu s in {machine['wall_seconds']:.1f} s: {procs}; {services} (*shared services); "
        f"machine {100 * machine['busy_fraction']:.0f}% busy | statement time s: {db}"
    )


def line_bulk(b: dict) -> str:
    return (
        f"bulk       {fmt(b['count'])} products in {b['seconds']:.1f} s: {fmt(b['rate'])} products/s end to end "
        f"(first change -> all applied) | commit phase {fmt(b['commit_rate'])} changes/s "
        f"({b['commit_seconds']:.1f} s, {b['mode']}, {b['txn']}/txn) | catalog complete "
        f"{b['complete_after_last_commit']:.2f} s after the last commit | {sum(b['messages'].values())} messages, "
        f"{b['events_per_message']} events/message, {b['catalog_db_sessions']} catalog DB connections" + cpu_part(b)
    )


def line_drain(d: dict) -> str:
    return (
        f"drain      {fmt(d['count'])} backlog: {fmt(d['rate'])} products/s relay+worker alone "
        f"(relay start -> all applied, {d['seconds']:.1f} s; {fmt(d['apply_span_rate'])}/s first->last apply) | "
        f"commit phase without relay {fmt(d['commit_rate'])} changes/s | "
        f"{sum(d['messages'].values())} messages, {d['events_per_message']} events/message" + cpu_part(d)
    )


def ms(s: dict, key: str) -> str:
    value = s[key]
    return f"> {s['drain_limit_s']:.0f} s" if value is None else f"{value:.1f} ms"


def line_steady(s: dict) -> str:
    late = (
        ""
        if s["complete"]
        else (f" ({s['not_applied_in_limit']} not applied {s['drain_limit_s']:.0f} s after the last change)")
    )
    return (
        f"steady     {fmt(s['count'])} changes at {s['rate']:.0f}/s from {s.get('clients', 1)} clients "
        f"(achieved {s['achieved_rate']:.1f}/s): "
        f"commit->applied p50 {ms(s, 'p50_ms')}, p95 {ms(s, 'p95_ms')}, p99 {ms(s, 'p99_ms')}, "
        f"max {ms(s, 'max_ms')}{late} | relay leg (commit->claimed) p50 {s['relay_leg_p50_ms']:.1f} ms, "
        f"p99 {s['relay_leg_p99_ms']:.1f} ms | {s['messages']} messages, {s['catalog_db_sessions']} catalog DB "
        f"connections" + cpu_part(s)
    )


def line_reference(r: dict, bulk: dict | None) -> str:
    ratio = f" | bulk/reference = {bulk['rate'] / r['rate']:.2f}x" if bulk else ""
    return (
        f"reference  {fmt(r['count'])} changes: {fmt(r['rate'])} changes/s end to end (first publish -> all "
        f"applied, {r['seconds']:.1f} s; publish phase {fmt(r['publish_rate'])}/s; {r['queue_type']} queue, "
        f"prefetch {r['prefetch']}; {r.get('clients', 1)} producer clients, each "
        f"{'an admin save, then ' if r.get('admin_save') else ''}a confirmed publish per change){ratio}"
    )


def line_reference_steady(r: dict) -> str:
    return (
        f"reference_steady {fmt(r['count'])} changes at {r['rate_offered']:.0f}/s from {r['clients']} clients "
        f"(achieved {r['achieved_rate']:.1f}/s), the reference's design paced as steady: save->applied "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
    )


def line_memory(results: dict) -> str:
    parts = []
    for name in ("bulk", "drain"):
        if name in results:
            procs = ", ".join(f"{m['process']} {m['peak_mb']:.0f} MB" for m in results[name]["memory"])
            parts.append(f"{name}: {procs}")
    return "memory     peak RSS " + " | ".join(parts)


def line_api(a: dict) -> str:
    def side(name: str, r: dict) -> str:
        rounds = "/".join(f"{v:.0f}" for v in r["rates"])
        return (
            f"broker {name} {r['rate']:.1f} creates/s (rounds {rounds}; p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']})"
        )

    parts = [
        f"{mode} stack: {side('up', m['up'])}, {side('down', m['down'])}, down/up = {m['down_over_up']:.3f}"
        for mode, m in a["modes"].items()
    ]
    return (
        f"api        {a['clients']} clients x {a['seconds']:.0f} s x {a['rounds']} rounds (median round) | "
        + " | ".join(parts)
    )


def target_lines(results: dict) -> list[str]:
    out = []

    def check(name: str, value: float, ok: bool, target: str) -> None:
        out.append(verdict(name, value, ok, target))

    t = TARGETS
    if b := results.get("bulk"):
        check("bulk products/s", fmt(b["rate"]), b["rate"] >= t["bulk_rate"], f">= {fmt(t['bulk_rate'])}")
        if r := results.get("reference"):
            ratio = b["rate"] / r["rate"]
            check("bulk / reference", f"{ratio:.2f}x", ratio >= t["bulk_over_reference"], ">= 10x")
        relay = [m["peak_mb"] for m in b["memory"] if m["process"] == "relay"]
        workers = [m["peak_mb"] for m in b["memory"] if m["process"].startswith("worker")]
        if relay:
            check("relay peak RSS MB (bulk)", relay[0], relay[0] <= t["relay_rss_mb"], "<= 120")
        if workers:
            check(
                "worst worker process peak RSS MB (bulk)",
                max(workers),
                max(workers) <= t["worker_rss_mb"],
                "<= 150 each",
            )
    if s := results.get("steady"):
        for key, limit in (("p50_ms", t["steady_p50_ms"]), ("p99_ms", t["steady_p99_ms"])):
            value = s[key]
            check(
                f"steady {key.replace('_', ' ')}",
                ms(s, key),
                value is not None and value <= limit,
                f"<= {limit:.0f} ms",
            )
    if a := results.get("api"):
        for mode, m in a["modes"].items():
            ratio = m["down_over_up"]
            check(f"API down/up ({mode} stack)", ratio, ratio is not None and abs(1 - ratio) <= 0.1, "within 10%")
    return out


# --- the run ------------------------------------------------------------------------------


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "admin_app", "catalog_worker", "sync_contract", "docker")),
    }


def preflight() -> None:
    from testkit.postgres import query

    query("postgres", "SELECT 1")
    if not shutil.which("rabbitmqctl"):
        raise SystemExit("rabbitmqctl not found: the bench needs the machine's RabbitMQ (make services)")


def checkpoint() -> float | None:
    """CHECKPOINT before a scenario, in seconds (None where refused): the WAL the scenarios before
    it wrote is flushed now, not by a checkpoint spreading its writes through this one
    (docs/decisions/0030-a-checkpoint-before-each-scenario.md)."""
    started = time.monotonic()
    try:
        query("postgres", "CHECKPOINT")
    except psycopg2.Error as exc:
        print(f"bench: CHECKPOINT refused ({exc.pgerror or exc}); scenarios may share a checkpoint", flush=True)
        return None
    return round(time.monotonic() - started, 2)


def cpu_pressure() -> float | None:
    """The kernel's CPU pressure (share of the last 60 s some task waited for a CPU), if available."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return float(dict(f.split("=") for f in first.split()[1:])["avg60"])


def on_sigterm(signum, frame):
    # Once: the clean-up that follows must not be cut short by a second signal.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    from bench.api_load import api
    from bench.capacity import capacity, line_capacity
    from bench.import_scenario import api_token, import_file, line_api_token, line_import
    from bench.import_scenario import target_lines as import_targets
    from bench.scenarios import Options, bulk, reference, steady

    preflight()
    stale_dbs, stale_vhosts = stale_resources()
    if stale_dbs or stale_vhosts:
        if args.clean_stale:
            drop_stale(stale_dbs, stale_vhosts, Broker(port=int(os.environ.get("TEST_RABBIT_PORT", "5672"))))
            print(f"bench: removed {len(stale_dbs)} databases and {len(stale_vhosts)} vhosts of killed runs")
        else:
            print(
                f"bench: {len(stale_dbs)} bench_* databases and {len(stale_vhosts)} bench-* vhosts exist "
                "(a run killed before it cleaned up, or a bench running now); --clean-stale removes them"
            )
    log_root = RESULTS / "logs"
    profile_dir = RESULTS / "profile"
    shutil.rmtree(log_root, ignore_errors=True)
    log_root.mkdir(parents=True)
    if args.profile:
        shutil.rmtree(profile_dir, ignore_errors=True)
        profile_dir.mkdir(parents=True)
    opts = Options(
        bulk_count=args.bulk_count,
        bulk_txn=args.bulk_txn,
        bulk_mode=args.bulk_mode,
        steady_rate=args.steady_rate,
        steady_seconds=args.steady_seconds,
        steady_clients=args.steady_clients,
        steady_drain_limit=args.steady_drain_limit,
        ref_count=args.ref_count,
        ref_prefetch=args.ref_prefetch,
        ref_queue_type=args.ref_queue_type,
        ref_admin_save=args.ref_admin_save,
        ref_clients=args.ref_clients,
        capacity_path=args.capacity_path,
        api_clients=args.api_clients,
        api_seconds=args.api_seconds,
        api_stacks=args.api_stacks,
        api_rounds=args.api_rounds,
        profile=args.profile,
        profile_dir=profile_dir,
    )
    todo = set(args.scenarios)
    if "memory" in todo and not todo & {"bulk", "drain"}:
        todo.add("bulk")
    if "capacity" in todo:
        todo.add("reference")
    if "steady" in todo:
        todo.add("reference_steady")
    runners = {
        "bulk": lambda: bulk(res, opts),
        "drain": lambda: bulk(res, opts, drain=True),
        "steady": lambda: steady(res, opts),
        "reference": lambda: reference(res, opts),
        "reference_steady": lambda: reference(res, opts, paced=True),
        "api": lambda: api(res, opts),
        "capacity": lambda: capacity(res, opts),
        "import": lambda: import_file(res, opts),
        "api_token": lambda: api_token(res, opts),
    }
    started = time.time()
    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "git": git_state(),
        "cpus": os.cpu_count(),
        "overrides": args.overrides,
        "settings": args.settings,
        "tunables_in_env": {k: os.environ[k] for k in TUNABLES if os.environ.get(k)},
        "options": {k: v for k, v in vars(opts).items() if k != "profile_dir"},
    }
    results: dict = {}
    print(
        f"bench: scenarios {', '.join(s for s in ORDER if s in todo)}; overrides {args.overrides or 'none'}; "
        f"logs in {log_root.relative_to(REPO)}",
        flush=True,
    )
    res = Resources(log_root, args.settings, args.overrides)
    try:
        print("bench: migrating template databases …", flush=True)
        res.ensure_templates()
        for name in ORDER:
            if name not in todo:
                continue
            checkpoint_seconds = checkpoint()
            load_before = os.getloadavg()[0]
            pressure_before = cpu_pressure()
            t0 = time.monotonic()
            results[name] = runners[name]()
            results[name]["wall_seconds"] = round(time.monotonic() - t0, 1)
            results[name]["loadavg_1m_before"] = round(load_before, 2)
            results[name]["cpu_pressure_avg60_before"] = pressure_before
            results[name]["checkpoint_seconds_before"] = checkpoint_seconds
            line = {
                "bulk": lambda: line_bulk(results["bulk"]),
                "drain": lambda: line_drain(results["drain"]),
                "steady": lambda: line_steady(results["steady"]),
                "reference": lambda: line_reference(results["reference"], results.get("bulk")),
                "reference_steady": lambda: line_reference_steady(results["reference_steady"]),
                "api": lambda: line_api(results["api"]),
                "capacity": lambda: line_capacity(results["capacity"], results.get("reference")),
                "import": lambda: line_import(results["import"], results.get("bulk")),
                "api_token": lambda: line_api_token(results["api_token"]),
            }[name]()
            annotate(results[name])
            print(line + per_change_part(results[name]), flush=True)
        if "memory" in todo:
            print(line_memory(results), flush=True)
    except KeyboardInterrupt:
        print("bench: interrupted; cleaning up", file=sys.stderr, flush=True)
        return 130
    except Exception:  # noqa: BLE001 - report it, clean up, still write what was measured
        failed = traceback.format_exc()
        print(f"bench: a scenario failed; cleaning up\n{failed}", file=sys.stderr, flush=True)
        meta["error"] = failed
    finally:
        problems = res.close()
        for problem in problems:
            print(f"bench: clean-up problem: {problem}", file=sys.stderr)

    print("targets (issue 3):")
    for line in target_lines(results):
        print(line)
    print("targets (issue 17, single edits):")
    for line in single_edit_targets(results):
        print(line)
    print("targets (issue 12, import and API authentication):")
    for line in import_targets(results):
        print(line)
    meta["seconds"] = round(time.time() - started, 1)
    write_results(args, meta, results)
    return 1 if "error" in meta else 0


def write_results(args, meta: dict, results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "bulk" in results and "reference" in results:
        results["bulk_over_reference"] = round(results["bulk"]["rate"] / results["reference"]["rate"], 2)
    # Every change's latency is only in the chart. The time series (progress, RSS, latency
    # buckets) go to the run's history file; <name>.json keeps the figures, small enough to diff.
    series_keys = {"points", "series", "timeline", "memory_series"}
    full = {
        k: {kk: vv for kk, vv in v.items() if kk != "points"} if isinstance(v, dict) else v for k, v in results.items()
    }
    figures = {
        k: {kk: vv for kk, vv in v.items() if kk not in series_keys} if isinstance(v, dict) else v
        for k, v in results.items()
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    history = RESULTS / "history"
    history.mkdir(exist_ok=True)
    history_path = history / f"run-{stamp}.json"
    history_path.write_text(json.dumps({"meta": meta, "targets": TARGETS, "results": full}) + "\n")
    path = RESULTS / f"{args.name}.json"
    document = {"meta": meta, "targets": TARGETS, "series_in": str(history_path.relative_to(REPO)), "results": figures}
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"bench: results in {path.relative_to(REPO)}", end="")
    if not args.no_chart:
        from bench.chart import draw

        png = RESULTS / f"{args.name}.png"
        title = f"product-sync bench {meta['started']} ({' '.join(meta['argv']) or 'full run'}; {meta['cpus']} CPUs)"
        draw(results, png, title)
        print(f", chart in {png.relative_to(REPO)}", end="")
    print(f" ({meta['seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
