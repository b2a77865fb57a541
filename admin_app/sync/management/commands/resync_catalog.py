"""``manage.py resync_catalog [ids…] [--batch-size N]``: re-send products' current state."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from products.models import Product
from products.services import product_resync, product_resync_after


class Command(BaseCommand):
    help = (
        "Write an outbox event with the current state and version of every product (or the given ids), "
        "in batches; the relay sends them and the catalog applies those it lacks. Safe to repeat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="product ids (default: every product)")
        parser.add_argument("--batch-size", type=int, default=1000, help="products per transaction (default 1000)")

    def handle(self, *args: Any, ids: list[int], batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        queryset = Product.objects.all()
        if ids:
            queryset = queryset.filter(pk__in=ids)
            unknown = sorted(set(ids) - set(queryset.values_list("pk", flat=True)))
            if unknown:
                self.stderr.write(f"no such products (skipped): {' '.join(map(str, unknown))}")
        total = queryset.count()
        progress = Progress(total, self.stderr, verbosity=options["verbosity"])
        done = 0
        if ids:
            wanted = sorted(set(ids))
            for start in range(0, len(wanted), batch_size):
                done += product_resync(product_ids=wanted[start : start + batch_size])
                progress.update(done)
        else:
            # Every product: one statement per batch reads the next ids by a range of the key.
            after: int | None = 0
            while after is not None:
                written, after = product_resync_after(after=after, limit=batch_size)
                done += written
                progress.update(done)
        progress.finish(done)
        self.stdout.write(f"resync: {done} events written to the outbox; the relay sends them")


class Progress:
    """A plain-text progress bar on stderr (redrawn in place on a terminal, one line per step otherwise)."""

    WIDTH = 30

    def __init__(self, total: int, stream: OutputWrapper, *, verbosity: int = 1) -> None:
        self.total = total
        self.stream = stream
        self.quiet = verbosity < 1
        self.tty: bool = getattr(getattr(stream, "_out", stream), "isatty", lambda: False)()
        self._shown = -1

    def update(self, done: int) -> None:
        if self.quiet:
            return
        percent = 100 if not self.total else min(100, done * 100 // self.total)
        if not self.tty and percent < 100 and percent - self._shown < 10:
            return  # a log file gets a line every 10%
        self._shown = percent
        filled = self.WIDTH * percent // 100
        line = f"resync [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total} ({percent}%)"
        if self.tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        else:
            self.stream.write(line)

    def finish(self, done: int) -> None:
        if self._shown < 100:
            self._shown = 99
            self.update(done if self.total == 0 else max(done, self.total))
        if self.tty and not self.quiet:
            sys.stderr.write("\n")
