"""Small, bounded looks at the broker for health pages, checks and the drift check.

Each call opens its own short-lived connection with a connect timeout and gives up
after one attempt: a broker that is down makes these answer ``None`` ("unknown")
quickly, never hang a web request or the relay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueDepth:
    messages: int  # ready messages (not counting those delivered and not yet acked)
    consumers: int


def queue_depth(app: Celery, queue: str, *, timeout: float = 2.0) -> QueueDepth | None:
    """Ready messages and consumers of ``queue`` (a passive declare), or None if unknown."""
    try:
        with app.connection_for_read(connect_timeout=timeout) as connection:
            # One attempt, no pause before giving up: a refused connection answers at once.
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=timeout
            )
            channel = connection.channel()
            try:
                _name, messages, consumers = channel.queue_declare(queue=queue, passive=True)
            finally:
                channel.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown", shown as such
        logger.info("cannot read the depth of %s: %s", queue, exc)
        return None
    return QueueDepth(messages=messages, consumers=consumers)
