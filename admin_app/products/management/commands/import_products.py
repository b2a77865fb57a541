"""``manage.py import_products PATH``: products from a CSV (header row) or JSON Lines file; ``-`` reads stdin.

Upsert by sku through ``products.services.product_import``: one invalid row and nothing
is written (every error listed by line and field); valid rows are applied in chunks, so
a failure while applying names how many were applied and running the file again
completes it. Memory flat whatever the size. A progress bar on a
terminal, a summary line at the end.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from products.import_formats import FORMATS, read_csv, read_json_lines
from products.services import ImportRejected, ImportStopped, product_import

READERS = {"csv": read_csv, "jsonl": read_json_lines}


class Command(BaseCommand):
    help = "Import products (upsert by sku) from a CSV or JSON Lines file, or '-' for stdin; a bad row: none written."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the file, or - for stdin")
        parser.add_argument("--format", choices=sorted(READERS), help="csv or jsonl (default: from the extension)")

    def handle(self, *args: Any, path: str, format: str | None, **options: Any) -> None:
        fmt = format or FORMATS.get(Path(path).suffix.lower())
        if fmt is None:
            raise CommandError(f"cannot tell the format of {path!r}: name it .csv, .jsonl or .ndjson, or pass --format")
        started = time.perf_counter()
        bar = tqdm(unit=" rows", unit_scale=True, file=sys.stderr, disable=not sys.stderr.isatty(), desc="read")

        def progress(read: int) -> None:
            bar.update(read - bar.n)

        try:
            with _opened(path) as text:
                result = product_import(rows=READERS[fmt](text), progress=progress)
        except ImportRejected as exc:
            bar.close()
            for error in exc.row_errors:
                self.stderr.write(f"line {error.line}: {error.field}: {error.message}")
            if exc.count > len(exc.row_errors):
                self.stderr.write(f"... and {exc.count - len(exc.row_errors)} more")
            raise CommandError(f"{exc.count} error{'s' if exc.count != 1 else ''}: nothing imported") from exc
        except ImportStopped as exc:
            raise CommandError(str(exc), returncode=130 if isinstance(exc.error, KeyboardInterrupt) else 1) from exc
        except KeyboardInterrupt:
            raise CommandError("interrupted: nothing imported", returncode=130) from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not UTF-8 text (byte {exc.start}): nothing imported") from exc
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        rows = result.created + result.updated + result.unchanged
        self.stdout.write(
            f"imported {rows} rows: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)"
        )


@contextmanager
def _opened(path: str) -> Iterator[IO[str]]:
    """The file (or stdin) as UTF-8 text; a byte-order mark, as spreadsheets write, is dropped."""
    if path == "-":
        yield io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        yield handle
