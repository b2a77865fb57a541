"""Publishing outbox events to the broker with confirms, on one held connection."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from copy import copy
from typing import Any

from amqp.exceptions import ConnectionError as AMQPConnectionError
from celery import Celery
from celery.events import EventDispatcher
from kombu import Connection, Exchange, Producer
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.message import Message
from kombu.utils.json import dumps as kombu_dumps

from sync_contract import SYNC_QUEUE, TASK_SYNC_PRODUCTS, encode_envelope
from sync_contract.broker import QueueDepth, amqp_channel, declared_depth

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The broker did not take the message: down, blocked, gone, it nacked, or it returned it
    (no queue bound to route it to). ``unreachable``: the connection failed (refused, timed
    out, closed), nothing the broker said about this message."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


# Errors of the connection itself, not of a message: the broker is down, blocked or restarting.
CONNECTION_ERRORS = (OSError, KombuOperationalError, AMQPConnectionError)


class Returned(Exception):
    """The broker returned the message unroutable: no queue is bound to take it."""


# Sent events are buffered and go out together, as one "task.multi" message, at most
# this often: one broker message per interval instead of one per relay round.
SENT_EVENTS_INTERVAL = 0.1


class SentEvents:
    """Celery's "task-sent" events (Flower's SENT state): batched, unconfirmed, best effort.

    Celery publishes the event on the task's own producer, i.e. with a confirm: a
    second broker round trip in every relay round, for monitoring data. Here the
    events are buffered and published together at most every SENT_EVENTS_INTERVAL, on
    a connection of their own without confirms. Events that cannot be written are
    dropped (and the connection with them), never the reason to publish a change again.
    """

    def __init__(self, app: Celery, *, timeout: float, interval: float = SENT_EVENTS_INTERVAL) -> None:
        self.app = app
        self.timeout = timeout
        self.interval = interval
        self._buffer: list[tuple[str, dict[str, Any]]] = []
        self._first_buffered_at: float | None = None
        self._connection: Connection | None = None
        self._dispatcher: EventDispatcher | None = None

    def publish(self, type: str, fields: Mapping[str, Any], producer: Producer, **kwargs: Any) -> None:
        """Celery's EventDispatcher.publish, as send_task calls it (``producer`` unused)."""
        self._buffer.append((type, dict(fields)))
        if self._first_buffered_at is None:
            self._first_buffered_at = time.monotonic()
        if self.due_in() == 0:
            self.flush()

    def due_in(self) -> float | None:
        """Seconds until the buffered events are due to go out (None: nothing buffered)."""
        if self._first_buffered_at is None:
            return None
        return max(0.0, self._first_buffered_at + self.interval - time.monotonic())

    def flush(self) -> None:
        buffered, self._buffer, self._first_buffered_at = self._buffer, [], None
        if not buffered:
            return
        try:
            dispatcher = self._ensure_dispatcher()
            for kind, fields in buffered:
                dispatcher.send(kind, **fields)  # buffered by the dispatcher (group "task")
            dispatcher.flush()  # ... and published as one message
        except Exception as exc:  # noqa: BLE001 - best effort: any failure drops the events only
            logger.debug("%d task-sent events dropped: %s", len(buffered), exc)
            self.close(graceful=False)

    def _ensure_dispatcher(self) -> EventDispatcher:
        if self._dispatcher is None:
            connection = _connect(self.app, self.timeout, confirm_publish=False)
            self._connection = connection
            self._dispatcher = self.app.events.Dispatcher(
                connection,
                enabled=True,
                buffer_group=["task"],
                buffer_limit=10_000,
                buffer_while_offline=False,
            )
            # The admin's broker user may not declare: provisioning and the worker declare celeryev.
            exchange = copy(self._dispatcher.exchange)  # type: ignore[union-attr]  # celery-types omit it
            exchange.no_declare = True
            self._dispatcher.exchange = exchange  # type: ignore[union-attr]
        return self._dispatcher

    def close(self, *, graceful: bool = True) -> None:
        if graceful:
            self.flush()
        connection, self._connection, self._dispatcher = self._connection, None, None
        if connection is not None:
            _close(connection, graceful=graceful)


class EncodedEnvelope(str):
    """The task's one argument, the envelope, already as JSON text (see EnvelopeProducer)."""


class EnvelopeProducer(Producer):
    """Celery's producer, sending an ``EncodedEnvelope`` argument as the text it is.

    Celery hands its producer the message body as ``(args, kwargs, embed)`` to
    serialise. When the one argument is an envelope encoded already, the body's JSON
    is written around that text instead: the same JSON the "json" serializer writes,
    without decoding and re-encoding every event of the batch.
    """

    def publish(self, body: Any, *args: Any, **kwargs: Any) -> None:
        if type(body) is tuple and len(body) == 3:
            task_args, task_kwargs, embed = body
            if len(task_args) == 1 and isinstance(task_args[0], EncodedEnvelope):
                body = f"[[{task_args[0]}], {kombu_dumps(task_kwargs)}, {kombu_dumps(embed)}]"
                kwargs.update(content_type="application/json", content_encoding="utf-8", serializer=None)
        super().publish(body, *args, **kwargs)


class Publisher:
    """Sends ``catalog.sync_products`` by name with the admin's Celery app.

    The connection is opened on first use, kept between publishes (a new
    connection per message costs more than the publish) and thrown away after any
    error so the next publish starts clean. Every message is published ``mandatory``
    and nothing is declared: the queues belong to provisioning and the worker, and a
    message the broker returns (the sync queue deleted, say) is a failed publish, so
    its rows stay in the outbox and are tried again (docs/decisions/0016-least-privilege.md).
    """

    def __init__(self, app: Celery, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        self._connection: Connection | None = None
        self._producer: EnvelopeProducer | None = None
        self._sent_events = SentEvents(app, timeout=timeout)
        self._returned: str | None = None

    def _ensure_producer(self) -> EnvelopeProducer:
        if self._producer is None:
            connection = _connect(self.app, self.timeout)
            self._connection = connection
            self._producer = EnvelopeProducer(connection, auto_declare=False, on_return=self._on_return)
        return self._producer

    def _on_return(self, exc: Exception, exchange: Exchange | str, routing_key: str, message: Message) -> None:
        # RabbitMQ sends basic.return before the confirm of the same message: _send sees it.
        self._returned = f"{exc} (exchange {exchange!r}, routing key {routing_key!r})"

    def publish(self, events: Sequence[str], *, argsrepr: str | None = None) -> str:
        """Publish one message carrying ``events``; return its task id once confirmed.

        ``events``: each event as the contract's JSON text (as the relay claims it).
        A held connection may have died while idle (broker restart, connections closed
        by an operator): one failure on a reused connection gets one retry on a fresh
        one before it counts. ``argsrepr`` is what Flower shows as the task's arguments
        (default: the events' count).
        """
        envelope = EncodedEnvelope(encode_envelope(events))
        if argsrepr is None:
            argsrepr = f"[{len(events)} events]"
        reused = self._producer is not None
        try:
            return self._send(envelope, argsrepr)
        except Exception as exc:
            self.close(graceful=False)
            if reused:
                logger.info("held broker connection failed (%s); reconnecting once", exc)
                try:
                    return self._send(envelope, argsrepr)
                except Exception as retry_exc:
                    self.close(graceful=False)
                    raise PublishError(
                        _describe(retry_exc), unreachable=isinstance(retry_exc, CONNECTION_ERRORS)
                    ) from retry_exc
            raise PublishError(_describe(exc), unreachable=isinstance(exc, CONNECTION_ERRORS)) from exc

    def _send(self, envelope: EncodedEnvelope, argsrepr: str) -> str:
        self._returned = None
        result = self.app.send_task(
            TASK_SYNC_PRODUCTS,
            args=[envelope],
            argsrepr=argsrepr,
            producer=self._ensure_producer(),
            retry=False,
            timeout=self.timeout,
            confirm_timeout=self.timeout,
            event_dispatcher=self._sent_events,
            mandatory=True,
            declare=[],
        )
        if self._returned is not None:
            raise Returned(f"the broker returned the message unroutable: {self._returned}")
        return result.id

    def queue_depth(self) -> QueueDepth | None:
        """Ready messages and consumers of the sync queue (a passive declare on the held
        connection), or None when unknown (no connection held, or the declare failed)."""
        if self._connection is None:
            return None
        try:
            channel = amqp_channel(self._connection)  # its own channel: a failed declare closes it
            try:
                return declared_depth(channel, SYNC_QUEUE)
            finally:
                channel.close()
        except Exception as exc:  # noqa: BLE001 - unknown depth: publish as usual
            logger.debug("cannot read the depth of %s: %s", SYNC_QUEUE, exc)
            return None

    def events_due_in(self) -> float | None:
        """Seconds until buffered task-sent events are due to go out (None: none buffered)."""
        return self._sent_events.due_in()

    def flush_events(self) -> None:
        self._sent_events.flush()

    def close(self, *, graceful: bool = True) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            _close(connection, graceful=graceful)
        if graceful:
            self._sent_events.close()


# Failover list (CELERY_BROKER_URL with ';') -> index of the node that answered last.
# Module state on purpose: both connections of a relay start from the node that works.
_LIVE_NODE: dict[str, int] = {}


def broker_urls(app: Celery) -> list[str]:
    """The node URLs of the broker setting, in order (a failover list has several)."""
    url: object = app.conf.broker_write_url or app.conf.broker_url  # a string, or a list in Celery's conf
    urls = [str(u) for u in url] if isinstance(url, list | tuple) else str(url).split(";")
    return [u.strip() for u in urls if u.strip()]


def _connect(app: Celery, timeout: float, *, confirm_publish: bool = True) -> Connection:
    """A connected broker connection on which every wait is bounded by ``timeout``.

    Socket read/write timeouts bound every wait, not only a confirm's: under a broker
    memory alarm a publish without them hangs until the alarm clears. One attempt per
    node: the relay's own backoff decides when to try again. A failover list is tried
    node by node, starting with the node that answered last, so a node whose name no
    longer resolves (its container gone) is paid for once, not on every reconnect.
    """
    transport_options: dict[str, float | bool] = {"read_timeout": timeout, "write_timeout": timeout}
    if not confirm_publish:
        transport_options["confirm_publish"] = False
    urls = broker_urls(app)
    key = ";".join(urls)
    start = _LIVE_NODE.get(key, 0) % max(len(urls), 1)
    ordered = urls[start:] + urls[:start]
    failures: list[Exception] = []
    connection = app.connection_for_write(
        url=";".join(ordered), connect_timeout=timeout, transport_options=transport_options
    )
    try:
        connection.ensure_connection(
            errback=lambda exc, interval: failures.append(exc),
            max_retries=max(len(urls) - 1, 0),
            interval_start=0,
            interval_step=0,
        )
    except Exception:
        connection.release()
        raise
    _LIVE_NODE[key] = (start + len(failures)) % max(len(urls), 1)
    return connection


def _close(connection: Connection, *, graceful: bool) -> None:
    try:
        # After a failure, drop the socket without the AMQP close handshake: a broker
        # blocked by a memory alarm never answers it, which would cost another timeout.
        if graceful:
            connection.release()
        else:
            connection.collect()
    except Exception:
        logger.debug("error while closing broker connection", exc_info=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
