"""Broker entities for product sync, declared identically by the relay and the worker.

A queue declared twice with different arguments is a channel error
(PRECONDITION_FAILED), so these arguments live here and nowhere else.
"""

from kombu import Exchange, Queue
from kombu.transport.base import StdChannel

from sync_contract import names

# A message delivered this many times without an ack (worker killed, connection
# lost, pool child SIGKILLed) is dead-lettered instead of looping forever.
DELIVERY_LIMIT = 10

sync_exchange = Exchange(names.SYNC_EXCHANGE, type="topic", durable=True)
dead_letter_exchange = Exchange(names.DEAD_LETTER_EXCHANGE, type="topic", durable=True)

sync_queue = Queue(
    names.SYNC_QUEUE,
    exchange=sync_exchange,
    routing_key=names.SYNC_ROUTING_KEY,
    durable=True,
    queue_arguments={
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": names.DEAD_LETTER_ROUTING_KEY,
        # The broker keeps a dead-lettered message until the dead-letter queue
        # confirms it; needs reject-publish overflow.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    },
)

dead_letter_queue = Queue(
    names.DEAD_LETTER_QUEUE,
    exchange=dead_letter_exchange,
    routing_key=names.DEAD_LETTER_ROUTING_KEY,
    durable=True,
    queue_arguments={"x-queue-type": "quorum"},
)


def declare_topology(channel: StdChannel) -> None:
    """Declare exchanges, queues and bindings, dead-letter side first.

    The dead-letter queue must exist before the first message can be
    dead-lettered, and the sync queue before the first publish: a confirmed
    publish to an exchange with no bound queue is silently dropped.
    """
    dead_letter_queue.bind(channel).declare()
    sync_queue.bind(channel).declare()
