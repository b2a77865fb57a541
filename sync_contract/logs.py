"""Compact log fields for batches: follow one change end to end without a line per event."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

PAIRS_SHOWN = 20


def product_versions(pairs: Iterable[tuple[int, int]], *, limit: int = PAIRS_SHOWN) -> str:
    """``"12:3,13:1,… (+230 more)"``: product_id:version of the first ``limit`` events."""
    shown: list[str] = []
    more = 0
    for product_id, version in pairs:
        if len(shown) < limit:
            shown.append(f"{product_id}:{version}")
        else:
            more += 1
    text = ",".join(shown)
    return f"{text} (+{more} more)" if more else text


class EventIds(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def product_id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def op(self) -> str: ...


def log_each_event(logger: logging.Logger, task_id: str | None, events: Iterable[EventIds]) -> None:
    """One DEBUG line per event of a batch, only when DEBUG is on (the INFO line names the batch)."""
    if logger.isEnabledFor(logging.DEBUG):
        for e in events:
            logger.debug(
                "in task_id=%s: event_id=%s product_id=%s version=%s op=%s",
                task_id,
                e.event_id,
                e.product_id,
                e.version,
                e.op,
            )
