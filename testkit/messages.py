"""Celery task messages as they travel on the broker, published by hand: good ones, bad ones,
and dead letters as the quorum queue dead-letters them.

Celery protocol 2: the body is ``[args, kwargs, embed]`` in JSON, the task name and id
travel in the headers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pika

from sync_contract import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_ROUTING_KEY,
    SYNC_EXCHANGE,
    SYNC_QUEUE,
    SYNC_ROUTING_KEY,
    TASK_SYNC_PRODUCTS,
)

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def new_task_id() -> str:
    return str(uuid.uuid4())


def task_body(*args: Any) -> bytes:
    """A protocol-2 body carrying ``args`` (the sync task takes one: the envelope)."""
    return json.dumps([list(args), {}, EMBED]).encode()


def task_argument(body: bytes | list[Any]) -> Any:
    """The first argument of a protocol-2 body (the envelope of a sync task)."""
    decoded = json.loads(body) if isinstance(body, bytes) else body
    return decoded[0][0]


def task_headers(task_id: str, task: str = TASK_SYNC_PRODUCTS) -> dict[str, Any]:
    return {
        "lang": "py",
        "task": task,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "origin": "testkit",
    }


def death_headers(reason: str) -> dict[str, Any]:
    """What RabbitMQ adds when the sync queue dead-letters a message."""
    return {
        "x-first-death-reason": reason,
        "x-first-death-queue": SYNC_QUEUE,
        "x-first-death-exchange": SYNC_EXCHANGE,
        "x-death": [
            {"count": 1, "reason": reason, "queue": SYNC_QUEUE, "exchange": SYNC_EXCHANGE, "routing-keys": [SYNC_QUEUE]}
        ],
    }


def _properties(task_id: str | None, headers: dict[str, Any] | None, content_type: str) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=content_type,
        content_encoding="utf-8",
        headers=headers,
        correlation_id=task_id,
        delivery_mode=2,
    )


def send_task(
    channel: Any,
    body: bytes,
    *,
    task: str = TASK_SYNC_PRODUCTS,
    content_type: str = "application/json",
    with_headers: bool = True,
) -> str:
    """Publish a task message onto the sync queue as a Celery client would; return its task id."""
    task_id = new_task_id()
    headers = task_headers(task_id, task) if with_headers else None
    channel.basic_publish(SYNC_EXCHANGE, SYNC_ROUTING_KEY, body, _properties(task_id, headers, content_type))
    return task_id


def send_dead_letter(channel: Any, body: bytes, *, reason: str, task_id: str | None) -> None:
    """Publish straight into the dead-letter queue, as if the sync queue had dead-lettered it
    (``task_id`` None: a message that carried no task id)."""
    headers = {**(task_headers(task_id) if task_id else {"task": TASK_SYNC_PRODUCTS}), **death_headers(reason)}
    channel.basic_publish(
        DEAD_LETTER_EXCHANGE, DEAD_LETTER_ROUTING_KEY, body, _properties(task_id, headers, "application/json")
    )
