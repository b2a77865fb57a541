"""``manage.py dead_letters list|replay|purge``: the dead-letter queue from a shell."""

from __future__ import annotations

import sys
from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import dead_letters


class Command(BaseCommand):
    help = "List, replay (to the sync queue) or purge the messages in catalog.product_sync.dead."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="show the messages and why they were dead-lettered")
        listing.add_argument(
            "--limit", type=int, default=dead_letters.BROWSE_LIMIT, help=f"at most {dead_letters.BROWSE_MAX}"
        )
        replay = sub.add_parser("replay", help="send messages back to the sync queue, unchanged")
        replay.add_argument("keys", nargs="*", help="task ids (or sha256:… keys) as `list` shows them")
        replay.add_argument(
            "--all", action="store_true", help="replay every message, in chunks, with a progress bar on a terminal"
        )
        purge = sub.add_parser("purge", help="delete every message in the dead-letter queue")
        purge.add_argument("--yes", action="store_true", help="really delete them")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except dead_letters.BrokerUnavailable as exc:
            raise CommandError(f"the broker cannot be reached: {exc}") from exc

    def _list(self, options: dict[str, Any]) -> None:
        depth, letters = dead_letters.browse(current_app, limit=options["limit"])
        self.stdout.write(f"{depth} message(s) in the dead-letter queue")
        for letter in letters:
            self.stdout.write(
                f"{letter.key}  task={letter.task_name or '-'}  {letter.death_reason or '?'} from "
                f"{letter.death_queue or '?'} ({letter.death_count}x)\n"
                f"    reason: {letter.detail or '-'}\n    body: {letter.body_preview}"
            )

    def _replay(self, options: dict[str, Any]) -> None:
        if options["all"] == bool(options["keys"]):
            raise CommandError("give either --all or the ids of the messages to replay")
        if options["all"]:
            self._replay_all()
            return
        result = dead_letters.replay(current_app, keys=options["keys"])
        self.stdout.write(f"replayed {len(result.replayed)} message(s)")
        for key in result.replayed:
            self.stdout.write(f"  {key}")
        if result.not_found:
            raise CommandError(f"not in the dead-letter queue: {' '.join(result.not_found)}")

    def _replay_all(self) -> None:
        """Chunk after chunk (each bounded in count and time), up to the messages there at the start."""
        total = dead_letters.depth(current_app)
        done = 0
        # The bar goes to stderr, only on a terminal (disable=None).
        with tqdm(total=total, unit="msg", desc="replayed", disable=None, file=sys.stderr) as bar:
            while done < total:
                result = dead_letters.replay(current_app, keys=None, limit=min(dead_letters.REPLAY_CHUNK, total - done))
                if not result.replayed:
                    break
                done += len(result.replayed)
                bar.update(len(result.replayed))
        self.stdout.write(f"replayed {done} message(s)")

    def _purge(self, options: dict[str, Any]) -> None:
        if not options["yes"]:
            raise CommandError("purge deletes every dead-lettered message for good: add --yes to do it")
        self.stdout.write(f"purged {dead_letters.purge(current_app)} message(s)")
