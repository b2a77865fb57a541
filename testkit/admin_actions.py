"""What the system tests do inside the admin's Django, run as its own process:

    python -m testkit.admin_actions edit --prefix P --count 30 [--updates 5] [--deletes 2]
    python -m testkit.admin_actions update --product-id 7 --times 3 --title again
    python -m testkit.admin_actions publish-reversed-twice
    python -m testkit.admin_actions create-user plain --password PW
    python -m testkit.admin_actions stream --prefix L --rate 100 --seconds 6 --seed 1

Settings and database come from the environment (DJANGO_SETTINGS_MODULE, default the
local settings; ADMIN_DATABASE_URL), as for ``manage.py``. Every change goes through the
service layer, as staff or an import make it. What a command reports goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from testkit.paths import SERVICE_DIRS


def setup_django() -> None:
    sys.path.insert(0, str(SERVICE_DIRS["admin"]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "admin_project.settings.local")
    import django

    django.setup()


def edit(args: argparse.Namespace) -> str:
    """Create ``count`` products, update the first ``updates``, delete the last ``deletes``; their ids."""
    from products.services import product_create, product_delete, product_update

    ids = [
        product_create(data={"sku": f"{args.prefix}-{i}", "title": f"Product {i}", "price": f"{i}.25"}).pk
        for i in range(args.count)
    ]
    for pid in ids[: args.updates]:
        product_update(product_id=pid, data={"title": "updated", "price": "99.99"})
    for pid in ids[len(ids) - args.deletes :]:
        product_delete(product_id=pid)
    return ",".join(map(str, ids))


def update(args: argparse.Namespace) -> str:
    from products.services import product_update

    for _ in range(args.times):
        product_update(product_id=args.product_id, data={"title": args.title})
    return str(args.times)


def publish_reversed_twice(args: argparse.Namespace) -> str:
    """Publish every outbox event, newest first, each one twice, one event per message, with
    the relay's own publisher (duplicates delivered in reverse order); the outbox is left as it was."""
    from django.conf import settings
    from django.db import connection, transaction
    from sync.publisher import Publisher
    from sync.relay import claim_events

    from admin_project.celery_app import app

    with transaction.atomic(), connection.cursor() as cursor:
        claimed = claim_events(cursor, 10000)
        transaction.set_rollback(True)  # only the messages go out
    events = [event.wire for event in reversed(claimed)]
    publisher = Publisher(app, timeout=settings.RELAY_PUBLISH_TIMEOUT)
    try:
        for _round in range(2):
            for event in events:
                publisher.publish([event])
    finally:
        publisher.close()
    return str(len(events))


def create_user(args: argparse.Namespace) -> str:
    """A user who is not staff."""
    from django.contrib.auth import get_user_model

    return str(get_user_model().objects.create_user(args.username, password=args.password).pk)


def stream(args: argparse.Namespace) -> str:
    """Creates, updates and deletes at ``rate`` changes/s for ``seconds``, each its own transaction.

    Paced, never bursting to catch up after a stall (a fault). A database error (the
    database restarted under it) drops that one change, reconnects and goes on: the
    admin database alone says what was committed.
    """
    from django.db import DatabaseError, connection

    from products.models import Product
    from products.services import product_create, product_delete, product_update

    rnd = random.Random(args.seed)
    live: list[int] = []
    n = errors = 0
    start = time.monotonic()
    end = start + args.seconds
    while n < int(args.rate * args.seconds * 1.2):
        now = time.monotonic()
        if now >= end:
            break
        due = start + n / args.rate
        if due > now:
            time.sleep(due - now)  # pacing, not waiting for a condition
        elif now - due > 1.0:
            start = now - n / args.rate
        n += 1
        price = f"{rnd.randint(0, 9999)}.{rnd.randint(0, 99):02d}"
        try:
            roll = rnd.random()
            if roll < 0.45 or len(live) < 20:
                live.append(product_create(data={"sku": f"{args.prefix}-{n}", "title": f"P{n}", "price": price}).pk)
            elif roll < 0.85:
                product_update(product_id=rnd.choice(live), data={"title": f"t{n}", "price": price})
            else:
                product_delete(product_id=live.pop(rnd.randrange(len(live))))
        except Product.DoesNotExist:
            pass
        except DatabaseError:
            errors += 1
            connection.close()
            time.sleep(0.2)  # a pause before reconnecting to a restarting database
    return f"attempted {n} database errors {errors}"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m testkit.admin_actions", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    p = commands.add_parser("edit")
    p.add_argument("--prefix", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--updates", type=int, default=0)
    p.add_argument("--deletes", type=int, default=0)
    p.set_defaults(run=edit)
    p = commands.add_parser("update")
    p.add_argument("--product-id", type=int, required=True)
    p.add_argument("--times", type=int, default=1)
    p.add_argument("--title", required=True)
    p.set_defaults(run=update)
    p = commands.add_parser("publish-reversed-twice")
    p.set_defaults(run=publish_reversed_twice)
    p = commands.add_parser("create-user")
    p.add_argument("username")
    p.add_argument("--password", required=True)
    p.set_defaults(run=create_user)
    p = commands.add_parser("stream")
    p.add_argument("--prefix", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(run=stream)
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    setup_django()
    sys.stdout.write(args.run(args) + "\n")


if __name__ == "__main__":
    main()
