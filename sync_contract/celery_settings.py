"""Celery settings both services share, in Django's ``CELERY_`` namespace.

Import with ``from sync_contract.celery_settings import *`` in a settings module;
each service adds only what is its own (broker URL, result backend, worker tuning).
"""

from sync_contract.names import SYNC_EXCHANGE, SYNC_QUEUE, SYNC_ROUTING_KEY, TASK_SYNC_PRODUCTS
from sync_contract.topology import sync_queue

# JSON only, both ways: nothing pickled is ever loaded.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]

# At-least-once consumption: ack after the task ran; a worker that dies hands the
# message back; a task that fails is rejected (and dead-lettered), not acked away.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False

# Publisher confirms: a publish returns only once the broker has the message.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# Never hang on a broker that is down: fail fast, the caller owns retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 4.0
CELERY_TASK_PUBLISH_RETRY = False

CELERY_TASK_QUEUES = (sync_queue,)
CELERY_TASK_DEFAULT_QUEUE = SYNC_QUEUE
CELERY_TASK_DEFAULT_EXCHANGE = SYNC_EXCHANGE
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
CELERY_TASK_DEFAULT_ROUTING_KEY = SYNC_ROUTING_KEY
CELERY_TASK_ROUTES = {
    TASK_SYNC_PRODUCTS: {"queue": SYNC_QUEUE, "routing_key": SYNC_ROUTING_KEY},
}
CELERY_TASK_CREATE_MISSING_QUEUES = False

# Flower sees every state: "sent" from the producer, the rest from workers.
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True

__all__ = [name for name in dir() if name.startswith("CELERY_")]
