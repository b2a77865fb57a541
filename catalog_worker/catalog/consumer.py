"""The worker's consumer, made strict for product sync."""

import functools
import logging
import time

from celery.worker.consumer import Consumer
from celery.worker.consumer.delayed_delivery import DelayedDelivery
from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

from catalog.dead_letters import record_undecodable
from sync_contract.topology import declare_topology

logger = logging.getLogger(__name__)

# Task events (received, started, succeeded) are buffered by Celery and, by default,
# flushed on the loop's next pass: nearly one broker message and one socket write per
# event, the largest part of the worker's main process under steady load (43% of its
# CPU). Flushed at most this often instead, they travel together as one "task.multi"
# message; Flower sees a task's state at most this much later.
EVENT_FLUSH_INTERVAL = 0.1


class DelayedDeliveryOnLiveNode(DelayedDelivery):
    """Celery's native delayed delivery set-up, on the node the consumer is connected to.

    Celery's own step connects to every URL of a failover list (``a;b;c``) in turn
    and retries a dead one for seconds before giving up, on every reconnection: with
    one cluster node killed, the worker stood still ~18 s. The exchanges and
    bindings are cluster-wide, so declaring them once through the live node is enough.
    """

    def start(self, c) -> None:
        self._validate_configuration(c.app)
        with c.connection.clone() as connection:
            connection.ensure_connection(max_retries=3)
            declare_native_delayed_delivery_exchanges_and_queues(
                connection, c.app.conf.broker_native_delayed_delivery_queue_type
            )
            self._bind_queues(c.app, connection)


def wake_if_ready(hub) -> None:
    """Never let the event loop sleep while callbacks are waiting to run.

    kombu's loop runs the callbacks queued with ``call_soon`` once per pass, then
    polls with the timers' timeout (up to ~2 s). Callbacks queued *during* that run
    (a task's ack queued while the reader's follow-up read was taking the next
    message, the next read itself) then waited for the poll to time out: with
    acks_late and a prefetch of one the broker sends nothing until the ack, so the
    worker sat idle between tasks for up to two seconds (measured: 100 single-event
    messages/s with 84% of the worker's time in an idle poll). A wake-up makes
    that poll return at once, and the next pass runs them.
    """
    # Private attributes: kombu has no public view of its ready queue or its waker.
    if hub._ready:
        waker = hub._waker
        if waker is not None:
            waker.wake()


_CELERY_DELAYED_DELIVERY = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


class SyncConsumer(Consumer):
    class Blueprint(Consumer.Blueprint):
        default_steps = [
            "catalog.consumer:DelayedDeliveryOnLiveNode" if step == _CELERY_DELAYED_DELIVERY else step
            for step in Consumer.Blueprint.default_steps
        ]

    _wake_tick = None
    _event_flush_due: float | None = None

    def on_send_event_buffered(self):
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

    def _flush_buffered_events(self):
        self._event_flush_due = None
        self._flush_events()

    def shutdown(self):
        # Celery closes the event dispatcher without flushing it: send what the last
        # interval buffered (the final states of the last tasks) while it can.
        try:
            self._flush_events()
        except Exception:  # monitoring data: the shutdown goes on regardless
            logger.debug("could not flush task events at shutdown", exc_info=True)
        super().shutdown()

    def connection_for_write(self, url=None, heartbeat=None):
        # Celery's consumer opens this connection for its event dispatcher only
        # (celery.worker.consumer.events). Task events are what Flower shows, not the
        # product changes: publishing them with confirms made the worker's main loop
        # wait for a broker round trip per flush, between every two tasks (35% of its
        # time under steady load). The tasks' own messages keep their guarantees:
        # acks_late on the consuming connection, confirms in the relay.
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url,
                heartbeat=heartbeat,
                transport_options={"confirm_publish": False},
            )
        )

    def register_with_event_loop(self, hub):
        super().register_with_event_loop(hub)
        # Called on every (re)connection; the same callable each time, so it is added once.
        if self._wake_tick is None:
            self._wake_tick = functools.partial(wake_if_ready, hub)
        hub.on_tick.add(self._wake_tick)

    def connect(self):
        # On every (re)connection, before any queue is consumed: the dead-letter
        # exchange and queue must exist, or a rejected message would be dropped.
        connection = super().connect()
        declare_topology(connection.default_channel)
        return connection

    def on_decode_error(self, message, exc):
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
