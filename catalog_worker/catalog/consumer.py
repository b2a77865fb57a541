"""The worker's consumer, made strict for product sync."""

import logging

from celery.worker.consumer import Consumer

from sync_contract.topology import declare_topology

logger = logging.getLogger(__name__)


class SyncConsumer(Consumer):
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
        message.reject(requeue=False)
