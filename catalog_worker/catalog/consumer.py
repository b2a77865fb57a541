"""The worker's consumer, made strict for product sync."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection
from typing import Protocol

from celery import Celery
from celery.worker.consumer import Consumer
from celery.worker.consumer.delayed_delivery import DelayedDelivery
from celery.worker.state import maybe_shutdown
from django.conf import settings
from kombu import Connection
from kombu.message import Message
from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

from catalog.dead_letters import record_undecodable
from sync_contract.topology import declare_topology

logger = logging.getLogger(__name__)

# Task events (received, started, succeeded) are flushed at most this often, together as one
# "task.multi" message, instead of nearly one broker message per event; Flower sees a task's
# state at most this much later (docs/decisions/0009-task-events-batched.md).
EVENT_FLUSH_INTERVAL = 0.1


class _Waker(Protocol):
    def wake(self) -> None: ...


class EventLoop(Protocol):
    """kombu's Hub as this module uses it. Its stub has ``on_tick`` as a list (it is a set) and
    leaves out the ready queue and the waker: private, kombu has no public view of them."""

    on_tick: set[Callable[[], None]]
    _ready: Collection[object]
    _waker: _Waker | None

    def call_later(self, delay: float, callback: Callable[[], None]) -> object: ...


class DelayedDeliveryOnLiveNode(DelayedDelivery):
    """Celery's native delayed delivery set-up, on the node the consumer is connected to.

    Celery's own step connects to every URL of a failover list (``a;b;c``) in turn and
    retries a dead one for seconds on every reconnection; the exchanges and bindings are
    cluster-wide, so declaring them once through the live node is enough
    (docs/decisions/0011-delayed-delivery-on-live-node.md).
    """

    # Celery's own helpers: private, so celery-types leaves them out.
    _validate_configuration: Callable[[Celery], None]
    _bind_queues: Callable[[Celery, Connection], None]

    def start(self, c: Consumer) -> None:
        self._validate_configuration(c.app)
        if c.connection is None:  # the Connection step, which runs first, sets it
            raise RuntimeError("delayed delivery set up before the consumer connected")
        with c.connection.clone() as connection:
            connection.ensure_connection(max_retries=3)
            declare_native_delayed_delivery_exchanges_and_queues(
                connection, c.app.conf.broker_native_delayed_delivery_queue_type
            )
            self._bind_queues(c.app, connection)


def wake_if_ready(hub: EventLoop) -> None:
    """Never let the event loop sleep while callbacks are waiting to run.

    kombu's loop runs the callbacks queued with ``call_soon`` once per pass, then polls
    with the timers' timeout (up to ~2 s). Callbacks queued *during* that run (a task's
    ack, the next read) would wait for that poll to time out, and with acks_late and a
    prefetch of one the broker sends nothing until the ack. A wake-up makes the poll
    return at once (docs/decisions/0010-worker-event-loop-wake.md).
    """
    if hub._ready:
        waker = hub._waker
        if waker is not None:
            waker.wake()


# Celery's steps replaced by ours: delayed delivery on the live node; read-only remote control.
_REPLACED_STEPS = {
    "celery.worker.consumer.delayed_delivery:DelayedDelivery": "catalog.consumer:DelayedDeliveryOnLiveNode",
    "celery.worker.consumer.control:Control": "catalog.remote_control:ReadOnlyControl",
}


class SyncConsumer(Consumer):
    class Blueprint(Consumer.Blueprint):  # type: ignore[misc,valid-type]  # celery-types: an attribute, not a class
        default_steps = [_REPLACED_STEPS.get(step, step) for step in Consumer.Blueprint.default_steps]

    # Set by Celery's Consumer; left out of celery-types.
    hub: EventLoop | None
    _flush_events: Callable[[], None]

    _wake_tick: Callable[[], None] | None = None
    _event_flush_due: float | None = None

    def on_send_event_buffered(self) -> None:  # type: ignore[override]  # celery-types: returns a callable; it does not
        # Celery's Events step hands this to the dispatcher: called for each buffered event.
        if not self.hub:
            return
        now = time.monotonic()
        # A flush scheduled long ago and never run (its timer was dropped with a lost
        # connection) must not stop the next one from being scheduled.
        if self._event_flush_due is not None and now < self._event_flush_due + 5 * EVENT_FLUSH_INTERVAL:
            return
        self._event_flush_due = now + EVENT_FLUSH_INTERVAL
        self.hub.call_later(EVENT_FLUSH_INTERVAL, self._flush_buffered_events)

    def _flush_buffered_events(self) -> None:
        self._event_flush_due = None
        self._flush_events()

    def shutdown(self) -> None:
        # Celery closes the event dispatcher without flushing it: send what the last
        # interval buffered (the final states of the last tasks) while it can.
        try:
            self._flush_events()
        except Exception:  # monitoring data: the shutdown goes on regardless
            logger.debug("could not flush task events at shutdown", exc_info=True)
        super().shutdown()

    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Connection:
        # Celery's consumer opens this connection for its event dispatcher only: task events,
        # for Flower, go without confirms (a broker round trip per flush otherwise). The tasks'
        # own messages keep their guarantees: acks_late when consumed, confirms in the relay.
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url,
                heartbeat=heartbeat,
                transport_options={"confirm_publish": False},
            )
        )

    def register_with_event_loop(self, hub: EventLoop) -> None:
        super().register_with_event_loop(hub)
        # Called on every (re)connection; the same callable each time, so it is added once.
        if self._wake_tick is None:
            self._wake_tick = functools.partial(wake_if_ready, hub)
        hub.on_tick.add(self._wake_tick)

    def ensure_connected(self, conn: Connection) -> Connection:
        # Celery's own reconnection waits 2, 4, … up to 30 s between attempts and gives up
        # after broker_connection_max_retries: here it never gives up (that setting is None)
        # and waits at most CATALOG_BROKER_RECONNECT_MAX, so a broker that is back after a
        # long outage is consumed from within that long (docs/decisions/0017-recovery.md).
        cap = settings.CATALOG_BROKER_RECONNECT_MAX

        def on_error(exc: Exception, interval: float) -> None:
            logger.error("cannot connect to the broker at %s: %s; again in %.1fs", conn.as_uri(), exc, interval)

        # kombu-stubs say int for the intervals; kombu sleeps any number of seconds.
        connected = conn.ensure_connection(
            on_error,
            self.app.conf.broker_connection_max_retries,
            interval_start=min(1.0, cap),  # type: ignore[arg-type]
            interval_step=min(1.0, cap),  # type: ignore[arg-type]
            interval_max=cap,  # type: ignore[arg-type]
            callback=maybe_shutdown,
        )
        self.first_connection_attempt = False
        self.broker_connection_retry_attempt = 0
        return connected

    def connect(self) -> Connection:
        # On every (re)connection, before any queue is consumed: the dead-letter
        # exchange and queue must exist, or a rejected message would be dropped.
        connection = super().connect()
        declare_topology(connection.default_channel)
        return connection

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        # Celery acks (drops) a body it cannot decode; we keep it for inspection
        # in the dead-letter queue instead.
        logger.critical(
            "rejecting undecodable message to the dead-letter queue: %s (content_type=%r, delivery_tag=%s)",
            exc,
            message.content_type,
            message.delivery_tag,
        )
        record_undecodable(message, exc)  # the reason, for the dead-letter page
        message.reject(requeue=False)
