"""The message contract between admin_app and catalog_worker.

Both services import this package and nothing of each other: names of the task,
queues and exchanges, the event schema, its validation, and the Celery settings
that both sides need to agree on.
"""

from sync_contract.events import (
    MAX_BATCH,
    SCHEMA_VERSION,
    InvalidPayload,
    ProductEvent,
    encode_envelope,
    validate_envelope,
)
from sync_contract.names import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    DEAD_LETTER_ROUTING_KEY,
    SYNC_EXCHANGE,
    SYNC_QUEUE,
    SYNC_ROUTING_KEY,
    TASK_SYNC_PRODUCTS,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "DEAD_LETTER_ROUTING_KEY",
    "MAX_BATCH",
    "SCHEMA_VERSION",
    "SYNC_EXCHANGE",
    "SYNC_QUEUE",
    "SYNC_ROUTING_KEY",
    "TASK_SYNC_PRODUCTS",
    "InvalidPayload",
    "ProductEvent",
    "encode_envelope",
    "validate_envelope",
]
