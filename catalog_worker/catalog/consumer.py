"""The worker's consumer, made strict for product sync."""

import logging

from celery.worker.consumer import Consumer
from celery.worker.consumer.delayed_delivery import DelayedDelivery
from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

from catalog.dead_letters import record_undecodable
from sync_contract.topology import declare_topology

logger = logging.getLogger(__name__)


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


_CELERY_DELAYED_DELIVERY = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


class SyncConsumer(Consumer):
    class Blueprint(Consumer.Blueprint):
        default_steps = [
            "catalog.consumer:DelayedDeliveryOnLiveNode" if step == _CELERY_DELAYED_DELIVERY else step
            for step in Consumer.Blueprint.default_steps
        ]

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
            exc, message.content_type, message.delivery_tag,
        )
        record_undecodable(message, exc)  # the reason, for the dead-letter page
        message.reject(requeue=False)
