"""The dead-letter queue ``catalog.product_sync.dead``: look, replay, purge.

Messages land there when the worker rejects them (an invalid payload, a body it
cannot decode, an unknown task) or when the quorum queue's delivery limit is hit
(a message whose worker died every time). Each one is shown with the reason:

- from the broker's ``x-death`` / ``x-first-death-*`` headers: why and from which
  queue it was dead-lettered, and how often;
- for a task that rejected it: the exception stored by django-celery-results under
  the task id (the message's ``id`` header);
- for a body the worker could not decode: the ``DeadLetterNote`` the consumer wrote.

Looking takes at most ``BROWSE_MAX`` messages with ``basic.get`` (the page and the count
above it, never the whole queue) without acking them and closes the channel, which hands
them back: the queue keeps them (quorum queues count that as a delivery;
the dead-letter queue has no delivery limit). Replaying republishes a message as it
is (body, headers, properties; only the broker-set ``x-delivery-count`` is dropped)
to the sync exchange, waits for the broker's confirm, and only then acks it off the
dead-letter queue: a crash in between leaves a copy in both queues, and the catalog
skips the duplicate by version. A replay call is one bounded chunk (``REPLAY_CHUNK``
messages, ``REPLAY_SECONDS``): the page replays one chunk per request and says how many
remain, the command loops over chunks with a progress bar.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import amqp
from celery import Celery
from kombu import Connection
from kombu.message import Message

from sync_contract.broker import amqp_channel, connect_once, declared_depth
from sync_contract.names import DEAD_LETTER_QUEUE, SYNC_EXCHANGE, SYNC_ROUTING_KEY

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 3.0
BROWSE_LIMIT = 200
BROWSE_MAX = 1000  # the most one look holds in memory, whatever is asked
# One replay call (a web request): at most this many messages and about this long.
REPLAY_CHUNK = 500
REPLAY_SECONDS = 10.0
PREVIEW_CHARS = 300
BROKER_SET_HEADERS = ("x-delivery-count",)


class BrokerUnavailable(Exception):
    """The broker could not be reached (or refused us); nothing was changed."""


@dataclass
class DeadLetter:
    key: str  # the message's ``id`` header (the task id), or sha256:<hash of the body>
    task_id: str | None
    task_name: str | None
    death_reason: str  # rejected, delivery_limit, expired, maxlen
    death_queue: str
    death_count: int
    first_death_at: datetime | None
    content_type: str
    size: int
    body_preview: str
    detail: str = ""  # the reason the worker gave, when it left one
    headers: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ReplayResult:
    replayed: list[str]
    not_found: list[str]
    remaining: int = 0  # still in the dead-letter queue (of those there when the call began)


def message_key(headers: Mapping[str, Any] | None, body: bytes | bytearray | str) -> str:
    task_id = (headers or {}).get("id")
    if isinstance(task_id, str) and task_id:
        return task_id
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def record_undecodable(message: Message, exc: BaseException) -> None:
    """Called by the worker's consumer before it rejects a body it cannot decode."""
    from catalog.models import DeadLetterNote

    try:
        # kombu-stubs type the body str | None: a delivered message always has one.
        key = message_key(message.headers, message.body)  # type: ignore[arg-type]
        DeadLetterNote.objects.update_or_create(
            key=key,
            defaults={
                "reason": f"undecodable body: {type(exc).__name__}: {exc}"[:4000],
                "content_type": (message.content_type or "")[:200],
            },
        )
    except Exception:
        logger.exception("could not record the reason of an undecodable message")


def _connection(app: Celery, timeout: float) -> Connection:
    connection = app.connection_for_write(connect_timeout=timeout)
    try:
        connect_once(connection, timeout=timeout)
    except Exception as exc:
        connection.release()
        raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return connection


def _decode(message: amqp.Message) -> DeadLetter:
    props = message.properties or {}
    headers = dict(props.get("application_headers") or {})
    body = message.body if isinstance(message.body, bytes | bytearray) else str(message.body).encode()
    # Headers are whatever the publisher wrote: a malformed x-death is shown as unknown, never raised.
    raw_deaths = headers.get("x-death")
    deaths = [d for d in raw_deaths if isinstance(d, dict)] if isinstance(raw_deaths, list) else []
    first = deaths[-1] if deaths else {}  # x-death is ordered most recent first
    text = bytes(body[: PREVIEW_CHARS * 4]).decode("utf-8", errors="replace")
    return DeadLetter(
        key=message_key(headers, body),
        task_id=headers.get("id") if isinstance(headers.get("id"), str) else None,
        task_name=headers.get("task") if isinstance(headers.get("task"), str) else None,
        death_reason=str(headers.get("x-first-death-reason") or first.get("reason") or ""),
        death_queue=str(headers.get("x-first-death-queue") or first.get("queue") or ""),
        death_count=sum(_count(d.get("count", 1)) for d in deaths) or 1,
        first_death_at=first.get("time") if isinstance(first.get("time"), datetime) else None,
        content_type=str(props.get("content_type") or ""),
        size=len(body),
        body_preview=text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS or len(body) > len(text) else ""),
        headers=headers,
    )


def _count(value: object) -> int:
    return value if type(value) is int and 0 <= value < 2**31 else 1


def _explain(letters: list[DeadLetter]) -> None:
    """Fill in ``detail``: the task's stored failure, or the consumer's note."""
    from django_celery_results.models import TaskResult

    from catalog.models import DeadLetterNote

    task_ids = [letter.task_id for letter in letters if letter.task_id]
    results = {r.task_id: r for r in TaskResult.objects.filter(task_id__in=task_ids)}
    notes = {n.key: n for n in DeadLetterNote.objects.filter(key__in=[letter.key for letter in letters])}
    for letter in letters:
        note = notes.get(letter.key)
        result = results.get(letter.task_id or "")
        if note is not None:
            letter.detail = note.reason
        elif result is not None and result.status == "FAILURE":
            letter.detail = _result_reason(result.result)
        elif letter.death_reason == "delivery_limit":
            letter.detail = "delivered too often without an ack (its worker died or was killed each time)"


def _result_reason(stored: str | None) -> str:
    import json

    try:
        data = json.loads(stored or "")
    except ValueError:
        return (stored or "")[:1000]
    if isinstance(data, dict) and "exc_type" in data:
        message = data.get("exc_message")
        if data["exc_type"] == "Reject" and isinstance(message, list | tuple) and message:
            # The task's own reject (what tasks.py raises for an invalid payload):
            # Celery stores Reject(reason, requeue) over the task's InvalidPayload.
            return f"rejected by the task: {message[0]}"[:1000]
        if isinstance(message, list | tuple):
            message = " ".join(str(m) for m in message)
        return f"{data['exc_type']}: {message}"[:1000]
    return str(data)[:1000]


def browse(app: Celery, *, limit: int = BROWSE_LIMIT, timeout: float = BROKER_TIMEOUT) -> tuple[int, list[DeadLetter]]:
    """(messages in the queue, the first ``limit`` of them, at most BROWSE_MAX); the queue is left as it was."""
    limit = min(limit, BROWSE_MAX)
    connection = _connection(app, timeout)
    try:
        channel = amqp_channel(connection)
        depth = declared_depth(channel, DEAD_LETTER_QUEUE).messages
        letters = []
        for _ in range(min(limit, depth)):
            message = channel.basic_get(queue=DEAD_LETTER_QUEUE, no_ack=False)
            if message is None:
                break
            letters.append(_decode(message))
        channel.close()  # hands every taken message back
    finally:
        connection.release()
    _explain(letters)
    return depth, letters


def replay(
    app: Celery,
    *,
    keys: Iterable[str] | None,
    limit: int = REPLAY_CHUNK,
    seconds: float = REPLAY_SECONDS,
    timeout: float = BROKER_TIMEOUT,
) -> ReplayResult:
    """Republish the messages with these keys (``None``: the first ``limit``) to the sync queue, then ack them here.

    One bounded chunk: at most ``limit`` messages and about ``seconds`` of work, so a web
    request never runs into its timeout whatever the queue holds; call again for the rest
    (``remaining``). Looks at most at the messages that were in the queue when it started,
    so a replayed message that the worker rejects again is not replayed twice in one call.
    """
    wanted = None if keys is None else set(keys)
    replayed: list[str] = []
    deadline = time.monotonic() + seconds
    connection = _connection(app, timeout)
    try:
        channel = amqp_channel(connection)
        depth = declared_depth(channel, DEAD_LETTER_QUEUE).messages
        for _ in range(depth):
            if len(replayed) == (limit if wanted is None else len(wanted)) or time.monotonic() > deadline:
                break
            message = channel.basic_get(queue=DEAD_LETTER_QUEUE, no_ack=False)
            if message is None:
                break
            props = dict(message.properties or {})
            headers = dict(props.get("application_headers") or {})
            key = message_key(headers, message.body)
            if wanted is not None and key not in wanted:
                continue  # left unacked: back in the queue when the channel closes
            for name in BROKER_SET_HEADERS:
                headers.pop(name, None)
            props["application_headers"] = headers
            republished = type(message)(message.body, **props)
            # The connection has publisher confirms on (confirm_publish): this returns
            # only once the broker has the copy, and raises if it nacks or times out, or
            # returns it (mandatory: no sync queue to route it to; it stays here then).
            channel.basic_publish(
                republished,
                exchange=SYNC_EXCHANGE,
                routing_key=SYNC_ROUTING_KEY,
                mandatory=True,
                confirm_timeout=timeout,
            )
            channel.basic_ack(message.delivery_info["delivery_tag"])
            replayed.append(key)
            logger.debug("replayed dead letter %s (task %s) to %s", key, headers.get("task"), SYNC_ROUTING_KEY)
        channel.close()
    finally:
        connection.release()
    logger.info("replayed %d dead letter(s) to %s", len(replayed), SYNC_ROUTING_KEY)
    not_found = [] if wanted is None else sorted(wanted - set(replayed))
    return ReplayResult(replayed=replayed, not_found=not_found, remaining=max(0, depth - len(replayed)))


def depth(app: Celery, *, timeout: float = BROKER_TIMEOUT) -> int:
    """Messages in the dead-letter queue now."""
    connection = _connection(app, timeout)
    try:
        channel = amqp_channel(connection)
        count = declared_depth(channel, DEAD_LETTER_QUEUE).messages
        channel.close()
    finally:
        connection.release()
    return count


def purge(app: Celery, *, timeout: float = BROKER_TIMEOUT) -> int:
    """Delete every message in the dead-letter queue; returns how many."""
    connection = _connection(app, timeout)
    try:
        channel = amqp_channel(connection)
        count = channel.queue_purge(queue=DEAD_LETTER_QUEUE)
        channel.close()
    finally:
        connection.release()
    logger.warning("purged %s messages from %s", count, DEAD_LETTER_QUEUE)
    return count or 0
