"""Log fields: compact ones for batches (follow one change end to end without a line per
event), and the JSON format (``LOG_FORMAT=json``) that carries them as fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

# Passed as ``extra=`` by the log calls that concern a change; JSON lines carry them as fields.
ID_FIELDS = ("task_id", "event_id", "product_id", "version", "op", "events", "products")

PAIRS_SHOWN = 20


class EventIds(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def product_id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def op(self) -> str: ...


def product_versions(events: Sequence[EventIds], *, limit: int = PAIRS_SHOWN) -> str:
    """``"12:3,13:1,… (+230 more)"``: product_id:version of the first ``limit`` events."""
    text = ",".join(f"{e.product_id}:{e.version}" for e in events[:limit])
    more = len(events) - limit
    return f"{text} (+{more} more)" if more > 0 else text


def log_one_event(logger: logging.Logger, what: str, task_id: str | None, e: EventIds) -> None:
    """The INFO line of a message that carries one event: ``what`` happened to it, with its ids."""
    logger.info(
        "%s event_id=%s product_id=%s version=%s op=%s task_id=%s",
        what,
        e.event_id,
        e.product_id,
        e.version,
        e.op,
        task_id,
        extra=event_fields(task_id=task_id, event=e),
    )


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
                extra=event_fields(task_id=task_id, event=e),
            )


def event_fields(*, task_id: str | None, event: EventIds | None = None) -> dict[str, Any]:
    """The ``extra=`` of a log call about one task and (optionally) one of its events."""
    fields: dict[str, Any] = {"task_id": task_id}
    if event is not None:
        fields.update(event_id=event.event_id, product_id=event.product_id, version=event.version, op=event.op)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the id fields a call passed
    (or, inside a Celery task, its task_id), and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if "task_id" not in line:
            task_id = _current_task_id()
            if task_id is not None:
                line["task_id"] = task_id
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _current_task_id() -> str | None:
    from celery import current_task

    request = getattr(current_task, "request", None)
    task_id = getattr(request, "id", None)
    return task_id if isinstance(task_id, str) else None
