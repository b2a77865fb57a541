"""Product changes committed through the admin's service layer, as an import or staff would.

Run by the bench as a subprocess, from the repository root, with the admin's
settings in DJANGO_SETTINGS_MODULE and its database in ADMIN_DATABASE_URL:

    python -m bench.admin_producer bulk --count 100000 --txn 500 --prefix B --out result.json
    python -m bench.admin_producer steady --rate 200 --seconds 30 --clients 4 --prefix S --out result.json

bulk: ``--count`` new products in transactions of ``--txn`` changes each. Mode
``create`` calls ``product_create`` once per change inside the transaction (its own
atomic block becomes a savepoint); mode ``import`` calls ``product_import`` with
the whole transaction's rows, where the service layer has it; ``auto`` picks
``import`` when it exists. steady: one ``product_create`` per transaction, paced
at ``--rate`` per second in all, from ``--clients`` concurrent connections;
``--path sql`` runs ``product_create``'s own statement (``products.sql.CREATE_SQL``)
between BEGIN and COMMIT on a psycopg2 connection, without building and validating a
model first: the same rows, outbox event and NOTIFY, for half the producer's CPU (the
capacity scenario, whose rates the producers would otherwise set).

The result file holds wall-clock times (epoch seconds, the same clock as
PostgreSQL's on this machine) for the bench to compare with the catalog's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_django() -> None:
    sys.path.insert(0, str(REPO / "admin_app"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "admin_project.settings.local")
    import django

    django.setup()


def product_data(prefix: str, i: int) -> dict:
    return {
        "sku": f"{prefix}-{i}",
        "title": f"Bench product {i}",
        "description": "A product written by the benchmark.",
        "price": f"{i % 1000}.{i % 100:02d}",
        "is_active": True,
    }


def run_bulk(args) -> dict:
    from django.db import transaction

    from products import services

    mode = args.mode
    if mode == "auto":
        mode = "import" if hasattr(services, "product_import") else "create"
    commits: list[tuple[float, int]] = []
    started = time.time()
    done = 0
    while done < args.count:
        size = min(args.txn, args.count - done)
        rows = [product_data(args.prefix, i) for i in range(done, done + size)]
        if mode == "import":
            services.product_import(rows=rows)
        else:
            with transaction.atomic():
                for row in rows:
                    services.product_create(data=row)
        done += size
        commits.append((time.time(), done))
    return {"mode": mode, "txn": args.txn, "count": done, "started": started, "commits": commits}


def sql_creator():
    """``product_create``'s write for valid data, as a function on a connection of its own:
    its statement between BEGIN and COMMIT, on psycopg2 with Django's connection parameters
    (Django's atomic block and cursor wrapper cost about as much Python as the statement)."""
    import psycopg2
    from django.db import connection
    from django.utils import timezone

    from products import sql

    raw = psycopg2.connect(**connection.get_connection_params())

    def create(*, data: dict) -> None:
        with raw.cursor() as cursor:  # psycopg2 sends BEGIN before the statement, as Django does
            cursor.execute(sql.CREATE_SQL, {"image_url": "", **data, "id": None, "version": 1, "now": timezone.now()})
        raw.commit()

    create.close = raw.close  # type: ignore[attr-defined]
    return create


def run_steady(args) -> dict:
    """``rate`` changes/s, one product_create (one transaction) each, from ``clients`` threads.

    Change i is due at ``start + i / rate`` and made by client ``i % clients``, each on
    its own database connection, as concurrent staff requests would be: one client
    alone cannot hold the rate once a create takes longer than ``1 / rate``.
    """
    import threading

    from django.db import connection

    from products.services import product_create

    total = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    lags: list[float] = []
    errors: list[BaseException] = []
    base = time.monotonic() + 0.05

    def client(k: int) -> None:
        create = product_create if args.path == "service" else sql_creator()
        try:
            for i in range(k, total, args.clients):
                due = base + i * interval
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                lags.append(time.monotonic() - due)
                create(data=product_data(args.prefix, i))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            errors.append(exc)
        finally:
            connection.close()
            if create is not product_create:
                create.close()

    started = time.time()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.time()
    if errors:
        raise errors[0]
    lags.sort()
    return {
        "count": total,
        "clients": args.clients,
        "path": args.path,
        "started": started,
        "finished": finished,
        "achieved_rate": total / (finished - started),
        "lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] * 1000 if lags else 0.0,
        "lag_max_ms": lags[-1] * 1000 if lags else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="scenario", required=True)
    bulk = sub.add_parser("bulk")
    bulk.add_argument("--count", type=int, required=True)
    bulk.add_argument("--txn", type=int, default=500)
    bulk.add_argument("--mode", choices=["auto", "create", "import"], default="create")
    steady = sub.add_parser("steady")
    steady.add_argument("--rate", type=float, required=True)
    steady.add_argument("--seconds", type=float, required=True)
    steady.add_argument("--clients", type=int, default=4)
    steady.add_argument("--path", choices=["service", "sql"], default="service")
    for p in (bulk, steady):
        p.add_argument("--prefix", required=True)
        p.add_argument("--out", required=True)
    args = parser.parse_args()

    setup_django()
    result = run_bulk(args) if args.scenario == "bulk" else run_steady(args)
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
