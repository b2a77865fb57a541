"""The tutorial's design, done right enough to measure: raw AMQP with pika, no Celery.

Producer: ``--clients`` concurrent clients (threads, each with its own connections),
each as the tutorial's admin view: per change first the product saved in the
admin's own database (one INSERT, committed: Django's ``save()`` in autocommit), then
one persistent message published with a publisher confirm (``confirm_delivery``:
``basic_publish`` returns once the broker has it). ``--admin-db ''`` and
``--clients 1`` are the reference before decision 0022. ``--rate R`` paces the clients
together at R changes/s (change i due at start + i / R), as the steady scenario's producer
is paced; without it they publish as fast as they can.
Consumer: one process; for each message, a single-row versioned upsert in its own
transaction, then the ack. Same broker, same PostgreSQL, its own vhost, queue,
database and table.

    python -m bench.reference consume --amqp URL --db NAME --count N --queue Q --ready FILE
    python -m bench.reference produce --amqp URL --admin-db NAME --count N --queue Q --out FILE
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pika
import psycopg2

TABLE = "ref_product"
CREATE_TABLE_SQL = f"""
    CREATE TABLE {TABLE} (
        product_id bigint PRIMARY KEY,
        sku varchar(64) NOT NULL,
        title varchar(200) NOT NULL,
        description text NOT NULL,
        price numeric(12, 2) NOT NULL,
        image_url varchar(500) NOT NULL,
        is_active boolean NOT NULL,
        version bigint NOT NULL,
        deleted boolean NOT NULL,
        event_id uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        applied_at timestamptz NOT NULL
    )
"""
# The admin's side: the tutorial's view saves the product in its own database, then publishes.
ADMIN_TABLE = "ref_admin_product"
CREATE_ADMIN_TABLE_SQL = f"""
    CREATE TABLE {ADMIN_TABLE} (
        id bigserial PRIMARY KEY,
        sku varchar(64) NOT NULL UNIQUE,
        title varchar(200) NOT NULL,
        description text NOT NULL,
        price numeric(12, 2) NOT NULL,
        image_url varchar(500) NOT NULL,
        is_active boolean NOT NULL
    )
"""
ADMIN_INSERT_SQL = f"""
    INSERT INTO {ADMIN_TABLE} (sku, title, description, price, image_url, is_active)
    VALUES (%(sku)s, %(title)s, %(description)s, %(price)s, %(image_url)s, %(is_active)s)
    RETURNING id
"""  # noqa: S608 - the table name is a constant of this module
UPSERT_SQL = f"""
    INSERT INTO {TABLE} (product_id, sku, title, description, price, image_url, is_active,
                         version, deleted, event_id, occurred_at, applied_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())
    ON CONFLICT (product_id) DO UPDATE
       SET sku = EXCLUDED.sku, title = EXCLUDED.title, description = EXCLUDED.description,
           price = EXCLUDED.price, image_url = EXCLUDED.image_url, is_active = EXCLUDED.is_active,
           version = EXCLUDED.version, deleted = EXCLUDED.deleted, event_id = EXCLUDED.event_id,
           occurred_at = EXCLUDED.occurred_at, applied_at = EXCLUDED.applied_at
     WHERE {TABLE}.version < EXCLUDED.version
"""  # noqa: S608 - the table name is a constant of this module


def declare(channel, queue: str, queue_type: str) -> None:
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": queue_type})


def connect(url: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(url))


def event(i: int, prefix: str) -> dict:
    """The same change as the bulk scenario's product ``i``, in the contract's event shape."""
    return {
        "event_id": str(uuid.uuid4()),
        "product_id": i + 1,
        "version": 1,
        "op": "upsert",
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": {
            "sku": f"{prefix}-{i}",
            "title": f"Bench product {i}",
            "description": "A product written by the benchmark.",
            "price": f"{i % 1000}.{i % 100:02d}",
            "image_url": "",
            "is_active": True,
        },
    }


def produce_some(args, k: int, errors: list[BaseException]) -> None:
    """Client ``k`` of ``args.clients``: changes k, k + clients, …, each saved then published."""
    try:
        admin_db = None
        if args.admin_db:
            admin_db = psycopg2.connect(host=args.pg_host, port=args.pg_port, user="root", dbname=args.admin_db)
            admin_db.autocommit = True  # Django's default: the view's save() is its own transaction
        connection = connect(args.amqp)  # one per client: pika's connections are not thread-safe
        channel = connection.channel()
        declare(channel, args.queue, args.queue_type)
        channel.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")
        for i in range(k, args.count, args.clients):
            if args.rate:
                wait = args.base + i / args.rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            change = event(i, args.prefix)
            if admin_db is not None:
                with admin_db.cursor() as cursor:
                    cursor.execute(ADMIN_INSERT_SQL, change["data"])
                    (change["product_id"],) = cursor.fetchone()
            # With confirms on, basic_publish blocks until the broker acks this message
            # (and raises if it nacks or returns it): one round trip per change.
            channel.basic_publish("", args.queue, json.dumps(change).encode(), persistent, mandatory=True)
        connection.close()
        if admin_db is not None:
            admin_db.close()
    except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
        errors.append(exc)


def produce(args) -> None:
    """``args.clients`` concurrent clients, as concurrent staff requests would be."""
    errors: list[BaseException] = []
    threads = [threading.Thread(target=produce_some, args=(args, k, errors)) for k in range(args.clients)]
    args.base = time.monotonic() + 0.05
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.time()
    if errors:
        raise errors[0]
    Path(args.out).write_text(json.dumps({"count": args.count, "started": started, "finished": finished}))


def consume(args) -> None:
    db = psycopg2.connect(host=args.pg_host, port=args.pg_port, user="root", dbname=args.db)
    connection = connect(args.amqp)
    channel = connection.channel()
    declare(channel, args.queue, args.queue_type)
    channel.basic_qos(prefetch_count=args.prefetch)
    handled = 0

    def on_message(ch, method, properties, body):
        nonlocal handled
        e = json.loads(body)
        d = e["data"]
        with db.cursor() as cursor:
            cursor.execute(
                UPSERT_SQL,
                (
                    e["product_id"],
                    d["sku"],
                    d["title"],
                    d["description"],
                    d["price"],
                    d["image_url"],
                    d["is_active"],
                    e["version"],
                    e["op"] == "delete",
                    e["event_id"],
                    e["occurred_at"],
                ),
            )
        db.commit()
        ch.basic_ack(method.delivery_tag)
        handled += 1
        if handled >= args.count:
            ch.stop_consuming()

    channel.basic_consume(args.queue, on_message)
    Path(args.ready).write_text("ready")
    channel.start_consuming()
    connection.close()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", default="ref")
    p.add_argument("--admin-db", default="", help="the admin's database; empty: no admin-side save")
    p.add_argument("--clients", type=int, default=1, help="concurrent producers, each with its own connections")
    p.add_argument("--rate", type=float, default=0.0, help="changes/s from all clients together; 0: unpaced")
    c = sub.add_parser("consume")
    c.add_argument("--db", required=True)
    c.add_argument("--prefetch", type=int, default=100)
    c.add_argument("--ready", required=True)
    for each in (p, c):
        each.add_argument("--pg-host", default="127.0.0.1")
        each.add_argument("--pg-port", type=int, default=5432)
        each.add_argument("--amqp", required=True)
        each.add_argument("--count", type=int, required=True)
        each.add_argument("--queue", default="bench.reference")
        each.add_argument("--queue-type", choices=["classic", "quorum"], default="classic")
    args = parser.parse_args()
    produce(args) if args.role == "produce" else consume(args)


if __name__ == "__main__":
    main()
