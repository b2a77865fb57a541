"""Small, bounded looks at the broker for health pages, checks and the drift check.

Each call opens its own short-lived connection with a connect timeout and gives up
after one attempt: a broker that is down makes these answer ``None`` ("unknown")
quickly, never hang a web request or the relay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery
from kombu import Connection
from kombu.transport.pyamqp import Channel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueDepth:
    messages: int  # ready messages (not counting those delivered and not yet acked)
    consumers: int


def connect_once(connection: Connection, *, timeout: float) -> None:
    """Connect with at most one retry and no pause: a refused connection answers at once."""
    connection.ensure_connection(
        max_retries=1,
        interval_start=0,
        interval_step=0,
        interval_max=0,
        timeout=timeout,  # type: ignore[arg-type]  # kombu-stubs say int; kombu takes any number of seconds
    )


def amqp_channel(connection: Connection) -> Channel:
    """A new channel on ``connection``: py-amqp's, the transport of every broker URL here (amqp://)."""
    channel = connection.channel()
    if not isinstance(channel, Channel):
        raise TypeError(f"an AMQP 0-9-1 broker is needed, not the {connection.transport_cls!r} transport")
    return channel


def declared_depth(channel: Channel, queue: str) -> QueueDepth:
    """Ready messages and consumers of ``queue``, by a passive declare (which creates nothing)."""
    declared = channel.queue_declare(queue=queue, passive=True)
    if declared is None:  # only a nowait declare goes unanswered
        raise RuntimeError(f"the broker did not answer the declare of {queue}")
    _name, messages, consumers = declared
    return QueueDepth(messages=messages, consumers=consumers)


def queue_depth(app: Celery, queue: str, *, timeout: float = 2.0) -> QueueDepth | None:
    """Ready messages and consumers of ``queue`` (a passive declare), or None if unknown."""
    try:
        with app.connection_for_read(connect_timeout=timeout) as connection:
            connect_once(connection, timeout=timeout)
            channel = amqp_channel(connection)
            try:
                return declared_depth(channel, queue)
            finally:
                channel.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown", shown as such
        logger.info("cannot read the depth of %s: %s", queue, exc)
        return None
