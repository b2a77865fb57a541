"""The pipeline scenarios (bulk, drain, steady) and the raw-AMQP reference.

Every time compared here is a wall-clock epoch on this one machine: the admin's
``occurred_at`` (set by the service at write time), the catalog's ``applied_at``
(``clock_timestamp()`` in the worker's upsert), the outbox's ``published_at``, and
the producers' own ``time.time()``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psutil

from bench.memory import RssSampler
from bench.profiler import Profiler, format_summary, summarise
from bench.stack import Resources, wait_relay_ready, wait_worker_ready
from bench.stats import bucketed, finite_or_none, percentile, rate
from testkit.postgres import pg_connect, query, scalar
from testkit.processes import Process


@dataclass
class Options:
    bulk_count: int = 100_000
    bulk_txn: int = 500
    bulk_mode: str = "auto"
    steady_rate: float = 200.0
    steady_seconds: float = 30.0
    steady_warmup: float = 2.0
    steady_clients: int = 4
    steady_drain_limit: float = 120.0
    ref_count: int | None = None  # None: the bulk count
    ref_prefetch: int = 100
    ref_queue_type: str = "classic"
    ref_admin_save: bool = True  # the tutorial's view saves the product before it publishes
    ref_clients: int = 4  # concurrent reference producers, as the steady and capacity clients
    capacity_path: str = "sql"  # the capacity producers: product_create's statement, or "service"
    api_clients: int = 4
    api_seconds: float = 10.0
    api_stacks: tuple[str, ...] = ("full", "web")
    api_rounds: int = 3
    profile: bool = False
    profile_dir: Path | None = None
    stall_timeout: float = 90.0


class Stalled(RuntimeError):
    pass


def wait_for_count(
    dbname: str,
    sql: str,
    expected: int,
    *,
    stall_timeout: float,
    what: str,
    interval: float = 0.25,
    logs: list[Process] = (),
    give_up_after: float | None = None,
) -> bool:
    """Poll ``sql`` (a count) until it reaches ``expected``; fail if it stops moving for ``stall_timeout``.

    With ``give_up_after`` (seconds), return False when that time is up instead of waiting on.
    """
    conn = pg_connect(dbname)
    give_up = time.monotonic() + give_up_after if give_up_after else None
    try:
        last, last_change = -1, time.monotonic()
        while True:
            with conn.cursor() as cur:
                cur.execute(sql)
                count = cur.fetchone()[0]
            if count >= expected:
                return True
            if give_up is not None and time.monotonic() > give_up:
                return False
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall_timeout:
                tails = "\n".join(
                    f"--- {p.name} ({p.log_path}):\n" + "\n".join(p.log().splitlines()[-15:]) for p in logs
                )
                raise Stalled(f"{what}: stuck at {count}/{expected} for {stall_timeout:.0f}s\n{tails}")
            time.sleep(interval)
    finally:
        conn.close()


def run_producer(
    res: Resources,
    stack,
    name: str,
    args: list[str],
    *,
    timeout: float,
    profiler: Profiler | None = None,
    sampler: RssSampler | None = None,
) -> dict:
    out = stack.log_dir / f"{name}.json"
    popen = res.popen(
        f"{stack.name}-{name}",
        [sys.executable, "-m", "bench.admin_producer", *args, "--out", str(out)],
        env=stack.process_env("admin"),
    )
    if profiler:
        profiler.start("producer", popen.pid)
    if sampler:
        sampler.watch("producer", popen.pid)
    try:
        popen.wait(timeout)
    except Exception:
        popen.kill()
        raise
    if popen.returncode:
        log = (res.log_root / f"{stack.name}-{name}.log").read_text(errors="replace")
        raise RuntimeError(f"{name} failed ({popen.returncode}):\n{log[-3000:]}")
    return json.loads(out.read_text())


def pipeline_profiler(opts: Options, label: str, relay: Process | None, worker: Process) -> Profiler | None:
    """With --profile: py-spy on the relay (if started yet), the worker's main process and each pool child."""
    if not opts.profile:
        return None
    out = opts.profile_dir / label
    out.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(out)
    if relay is not None:
        profiler.start("relay", relay.pid)
    profiler.start("worker-main", worker.pid)
    for n, child in enumerate(psutil.Process(worker.pid).children(recursive=True), 1):
        profiler.start(f"worker-child-{n}", child.pid)
    return profiler


def summarise_all(profiles: dict[str, Path]) -> dict:
    summaries = {}
    for name, raw in profiles.items():
        summaries[name] = summary = summarise(raw)
        (raw.parent / f"{name}.summary.txt").write_text(format_summary(name, summary) + "\n")
    return summaries


def sessions(dbname: str) -> int:
    """Connections ever opened to ``dbname`` (PostgreSQL counts them; a fresh database starts at 0)."""
    return int(scalar("postgres", "SELECT sessions FROM pg_stat_database WHERE datname = %s", [dbname]) or 0)


def db_time(stack) -> dict[str, float]:
    """Seconds PostgreSQL spent executing statements in each of the stack's databases (its own
    databases, so all of it is this scenario's; waiting for a CPU included)."""
    rows = query(
        "postgres",
        "SELECT datname, active_time FROM pg_stat_database WHERE datname IN (%s, %s)",
        [stack.admin_db, stack.catalog_db],
    )
    named = {stack.admin_db: "admin", stack.catalog_db: "catalog"}
    return {named[name]: round((ms or 0) / 1000, 2) for name, ms in rows}


def applied_timeline(
    dbname: str, table: str, since: float, width: float = 0.25, column: str = "applied_at"
) -> list[tuple[float, int]]:
    """Cumulative rows by ``column`` (a timestamp), per ``width`` seconds since ``since`` (epoch)."""
    rows = query(
        dbname,
        f"SELECT floor(extract(epoch FROM {column}) / %s) * %s AS b, count(*) FROM {table}"  # noqa: S608
        f" WHERE {column} IS NOT NULL GROUP BY b ORDER BY b",
        [width, width],
    )
    total, points = 0, []
    for bucket, count in rows:
        total += count
        points.append((round(float(bucket) + width - since, 3), total))
    return points


# --- bulk and drain -------------------------------------------------------------------


def bulk(res: Resources, opts: Options, *, drain: bool = False) -> dict:
    """bulk: commit N changes while relay and worker run. drain: commit them first, then start the relay."""
    label = "drain" if drain else "bulk"
    stack = res.stack(label)
    count = opts.bulk_count
    worker = stack.start("catalog-worker")
    relay = None
    if not drain:
        relay = stack.start("admin-relay")
        wait_relay_ready(relay)
    wait_worker_ready(worker)

    # drain: profiled from the relay's start (the worker idles during the commit phase).
    profiler = pipeline_profiler(opts, label, relay, worker) if not drain else None

    roots = {"worker": worker.pid, **({"relay": relay.pid} if relay else {})}
    producer_args = [
        "bulk",
        "--count",
        str(count),
        "--txn",
        str(opts.bulk_txn),
        "--mode",
        opts.bulk_mode,
        "--prefix",
        label,
    ]
    count_sql = "SELECT count(*) FROM catalog_catalogproduct WHERE version = 1"
    result: dict = {"scenario": label, "count": count}
    profiles = {}
    try:
        with RssSampler(roots) as sampler:
            produced = run_producer(
                res,
                stack,
                "producer",
                producer_args,
                timeout=max(600.0, count / 50),
                profiler=profiler,
                sampler=sampler,
            )
            relay_started = None
            if drain:
                relay = stack.start("admin-relay")
                relay_started = wait_relay_ready(relay)
                sampler.watch("relay", relay.pid)
                profiler = pipeline_profiler(opts, label, relay, worker)
            wait_for_count(
                stack.catalog_db,
                count_sql,
                count,
                stall_timeout=opts.stall_timeout,
                what=f"{label}: catalog complete",
                logs=[relay, worker],
            )
            sampler_started = sampler.started
    finally:
        if profiler:
            profiles = profiler.stop()
    applied_first, applied_end = (
        float(v)
        for v in query(
            stack.catalog_db,
            "SELECT extract(epoch FROM min(applied_at)), extract(epoch FROM max(applied_at))"
            " FROM catalog_catalogproduct",
        )[0]
    )
    commits = produced["commits"]
    started, last_commit = produced["started"], commits[-1][0]
    messages = dict(query(stack.catalog_db, "SELECT status, count(*) FROM django_celery_results_taskresult GROUP BY 1"))

    result.update(
        mode=produced["mode"],
        txn=produced["txn"],
        commit_seconds=round(last_commit - started, 3),
        commit_rate=round(rate(count, last_commit - started), 1),
        complete_after_last_commit=round(applied_end - last_commit, 3),
        pending_outbox=stack.pending_outbox(),
        catalog_db_sessions=sessions(stack.catalog_db),
        db_active_seconds=db_time(stack),
        messages=messages,
        events_per_message=round(count / max(1, sum(messages.values())), 1),
        memory=[m for m in sampler.summary() if m["process"] != "producer"],
        cpu={m["process"]: m["cpu_seconds"] for m in sampler.summary()},
        machine=sampler.machine,
        memory_series={
            s.label: [s.times, [round(v, 1) for v in s.rss_mb]]
            for s in sampler.series.values()
            if s.label != "producer"
        },
    )
    if drain:
        result.update(
            seconds=round(applied_end - relay_started, 3),
            rate=round(rate(count, applied_end - relay_started), 1),
            apply_span_rate=round(rate(count, applied_end - applied_first), 1),
        )
        origin = relay_started
    else:
        result.update(
            seconds=round(applied_end - started, 3),
            rate=round(rate(count, applied_end - started), 1),
        )
        origin = started
    result["timeline"] = {
        "committed": [(round(t - origin, 3), n) for t, n in commits] if not drain else [],
        "published": applied_timeline(stack.admin_db, "products_outboxevent", origin, column="published_at"),
        "applied": applied_timeline(stack.catalog_db, "catalog_catalogproduct", origin),
        "sampler_offset": round(sampler_started - origin, 3),
    }
    if profiles:
        result["profile"] = summarise_all(profiles)
    res.close_stack(stack)
    return result


# --- steady ---------------------------------------------------------------------------


def steady(res: Resources, opts: Options) -> dict:
    stack = res.stack("steady")
    worker = stack.start("catalog-worker")
    relay = stack.start("admin-relay")
    wait_worker_ready(worker)
    wait_relay_ready(relay)
    total = int(opts.steady_rate * opts.steady_seconds)
    warm = int(opts.steady_rate * opts.steady_warmup)
    # Warm-up first (connections opened, code paths loaded), at the same pace; not counted.
    if warm:
        run_producer(
            res,
            stack,
            "warmup",
            [
                "steady",
                "--rate",
                str(opts.steady_rate),
                "--seconds",
                str(opts.steady_warmup),
                "--clients",
                str(opts.steady_clients),
                "--prefix",
                "warm",
            ],
            timeout=120,
        )
        wait_for_count(
            stack.catalog_db,
            "SELECT count(*) FROM catalog_catalogproduct WHERE sku LIKE 'warm-%'",
            warm,
            stall_timeout=opts.stall_timeout,
            what="steady: warm-up applied",
            logs=[relay, worker],
        )
    profiler = pipeline_profiler(opts, "steady", relay, worker)
    try:
        with RssSampler({"worker": worker.pid, "relay": relay.pid}) as sampler:
            produced = run_producer(
                res,
                stack,
                "producer",
                [
                    "steady",
                    "--rate",
                    str(opts.steady_rate),
                    "--seconds",
                    str(opts.steady_seconds),
                    "--clients",
                    str(opts.steady_clients),
                    "--prefix",
                    "steady",
                ],
                timeout=opts.steady_seconds * 3 + 60,
                profiler=profiler,
                sampler=sampler,
            )
            # A pipeline slower than the offered rate builds a backlog; past this limit the
            # changes not applied yet count as infinitely late (so p99 reads "> limit").
            complete = wait_for_count(
                stack.catalog_db,
                "SELECT count(*) FROM catalog_catalogproduct WHERE sku LIKE 'steady-%'",
                total,
                stall_timeout=opts.stall_timeout,
                what="steady: catalog complete",
                logs=[relay, worker],
                give_up_after=opts.steady_drain_limit,
            )
    finally:
        profiles = profiler.stop() if profiler else {}
    rows = query(
        stack.catalog_db,
        "SELECT product_id, extract(epoch FROM occurred_at), extract(epoch FROM applied_at - occurred_at) * 1000"
        " FROM catalog_catalogproduct WHERE sku LIKE 'steady-%'",
    )
    published = dict(
        query(
            stack.admin_db,
            "SELECT product_id, extract(epoch FROM published_at) FROM products_outboxevent"
            " WHERE published_at IS NOT NULL",
        )
    )
    late = total - len(rows)
    latencies = [float(r[2]) for r in rows] + [math.inf] * late
    relay_leg = [(float(published[r[0]]) - float(r[1])) * 1000 for r in rows if r[0] in published]
    origin = produced["started"]
    points = sorted((float(r[1]) - origin, float(r[2])) for r in rows)
    messages = scalar(stack.catalog_db, "SELECT count(*) FROM django_celery_results_taskresult")
    result = {
        "scenario": "steady",
        "count": total,
        "rate": opts.steady_rate,
        "seconds": opts.steady_seconds,
        "achieved_rate": round(produced["achieved_rate"], 1),
        "clients": opts.steady_clients,
        "producer_lag_p99_ms": round(produced["lag_p99_ms"], 2),
        "producer_lag_max_ms": round(produced["lag_max_ms"], 2),
        "complete": complete,
        "not_applied_in_limit": late,
        "drain_limit_s": opts.steady_drain_limit,
        "p50_ms": finite_or_none(percentile(latencies, 50)),
        "p95_ms": finite_or_none(percentile(latencies, 95)),
        "p99_ms": finite_or_none(percentile(latencies, 99)),
        "max_ms": finite_or_none(max(latencies)),
        "mean_ms": finite_or_none(sum(latencies) / len(latencies)),
        # occurred_at -> published_at (when the relay claimed the event; its round commits only
        # after the broker confirmed the message).
        "relay_leg_p50_ms": round(percentile(relay_leg, 50), 2),
        "relay_leg_p99_ms": round(percentile(relay_leg, 99), 2),
        "messages": messages,
        "catalog_db_sessions": sessions(stack.catalog_db),
        "db_active_seconds": db_time(stack),
        "cpu": {m["process"]: m["cpu_seconds"] for m in sampler.summary()},
        "machine": sampler.machine,
        "series": bucketed(points, 0.5),
        "points": points,
    }
    if profiles:
        result["profile"] = summarise_all(profiles)
    res.close_stack(stack)
    return result


# --- reference (raw AMQP, pika) ---------------------------------------------------------


def reference(res: Resources, opts: Options, *, paced: bool = False) -> dict:
    """The tutorial's design as fast as its producers go; ``paced``: at the steady scenario's
    rate, for as long, from as many clients (what the same single edits cost it, decision 0026)."""
    count = int(opts.steady_rate * opts.steady_seconds) if paced else (opts.ref_count or opts.bulk_count)
    name = "reference_steady" if paced else "reference"
    tag = "refs" if paced else "ref"
    db = res.database(f"bench_{tag}_{res.run_id}")
    conn = pg_connect(db)
    with conn.cursor() as cur:
        from bench.reference import CREATE_TABLE_SQL

        cur.execute(CREATE_TABLE_SQL)
    conn.close()
    producer_args = ["--clients", str(opts.steady_clients if paced else opts.ref_clients)]
    if paced:
        producer_args += ["--rate", str(opts.steady_rate)]
    if opts.ref_admin_save:
        admin_db = res.database(f"bench_{tag}admin_{res.run_id}")
        conn = pg_connect(admin_db)
        with conn.cursor() as cur:
            from bench.reference import CREATE_ADMIN_TABLE_SQL

            cur.execute(CREATE_ADMIN_TABLE_SQL)
        conn.close()
        producer_args += ["--admin-db", admin_db]
    broker = res.shared_broker
    vhost = res.vhost(broker, f"bench-{res.run_id}-{tag}")
    url = broker.url(vhost)
    log_dir = res.log_root / name
    log_dir.mkdir(parents=True, exist_ok=True)
    ready, out = log_dir / "consumer.ready", log_dir / "producer.json"
    common = ["--amqp", url, "--count", str(count), "--queue-type", opts.ref_queue_type]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    consumer = res.popen(
        f"{name}-consumer",
        [
            sys.executable,
            "-m",
            "bench.reference",
            "consume",
            *common,
            "--db",
            db,
            "--prefetch",
            str(opts.ref_prefetch),
            "--ready",
            str(ready),
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if consumer.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} consumer did not start; see {name}-consumer.log")
        time.sleep(0.05)

    log_path = res.log_root / f"{name}-consumer.log"
    consumer_log = SimpleNamespace(name=name, log=lambda: log_path.read_text(errors="replace"))  # for wait_for_count

    # Its CPU accounted as the pipeline's: the consumer, PostgreSQL and RabbitMQ (the producer apart).
    with RssSampler({"consumer": consumer.pid}) as sampler:
        producer = res.popen(
            f"{name}-producer",
            [sys.executable, "-m", "bench.reference", "produce", *common, *producer_args, "--out", str(out)],
            env=env,
        )
        sampler.watch("producer", producer.pid)
        wait_for_count(
            db,
            "SELECT count(*) FROM ref_product",
            count,
            stall_timeout=opts.stall_timeout,
            what=f"{name}: consumer applied all",
            logs=[consumer_log],
        )
    producer.wait(60)
    consumer.wait(30)
    produced = json.loads(out.read_text())
    applied_end = float(scalar(db, "SELECT extract(epoch FROM max(applied_at)) FROM ref_product"))
    started, finished = produced["started"], produced["finished"]
    result = {
        "scenario": name,
        "count": count,
        "queue_type": opts.ref_queue_type,
        "prefetch": opts.ref_prefetch,
        "admin_save": opts.ref_admin_save,
        "clients": opts.ref_clients,
        "seconds": round(applied_end - started, 3),
        "rate": round(rate(count, applied_end - started), 1),
        "publish_rate": round(rate(count, finished - started), 1),
        "timeline": {"applied": applied_timeline(db, "ref_product", started)},
        "cpu": {m["process"]: m["cpu_seconds"] for m in sampler.summary()},
        "machine": sampler.machine,
    }
    if paced:
        latencies = [
            float(v)
            for (v,) in query(db, "SELECT extract(epoch FROM applied_at - occurred_at) * 1000 FROM ref_product")
        ]
        result.update(
            rate_offered=opts.steady_rate,
            achieved_rate=round(rate(count, finished - started), 1),
            p50_ms=round(percentile(latencies, 50), 2),
            p99_ms=round(percentile(latencies, 99), 2),
        )
    return result
