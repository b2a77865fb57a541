"""The worker's remote control, read-only: nothing sent to ``celery.pidbox`` can drop a change.

Celery's worker obeys any broadcast on its control exchange: ``revoke`` makes it ack a
waiting sync task away unrun, ``shutdown`` and ``cancel_consumer`` stop consumption,
``rate_limit`` and ``time_limit`` slow or kill tasks. Anyone holding a broker user that
may write to ``celery.pidbox`` (Flower's, say) or Flower's login could send them. The
catalog worker answers only the inspection commands Flower needs to show workers and
tasks; every other command is refused with an error reply and a warning in the log
(docs/decisions/0016-least-privilege.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from celery.worker import control
from celery.worker import state as worker_state
from celery.worker.consumer import Consumer
from celery.worker.consumer.control import Control
from celery.worker.request import Request

logger = logging.getLogger(__name__)

# Read-only commands: what Flower's worker and task pages ask (and `celery inspect`), plus
# enable_events/heartbeat, which Flower sends and which change nothing but monitoring.
READ_ONLY_COMMANDS = frozenset(
    {
        "ping",
        "stats",
        "report",
        "clock",
        "conf",
        "query_task",
        "active",
        "reserved",
        "scheduled",
        "revoked",
        "registered",
        "active_queues",
        "enable_events",
        "heartbeat",
    }
)

Handler = Callable[..., Any]


def _refuse(name: str) -> Handler:
    def refused(state: Any, **arguments: Any) -> dict[str, str]:
        logger.warning(
            "refused remote control command %r from the broker (arguments %r): the catalog worker "
            "answers read-only commands only, so no change can be dropped from outside",
            name,
            sorted(arguments),
        )
        return {"error": f"refused: the catalog worker does not obey {name!r} (read-only remote control)"}

    return refused


def hello(state: Any, from_node: str, revoked: object = None, **kwargs: Any) -> dict[str, Any]:
    """Mingle's start-up sync, without its revoked ids: none are taken in, none handed out."""
    return {"revoked": [], "clock": state.app.clock.forward()}


def read_only_handlers(registry: Mapping[str, Handler] | None = None) -> dict[str, Handler]:
    """Celery's command handlers, each not read-only replaced by one that refuses it."""
    registry = control.Panel.data if registry is None else registry
    handlers: dict[str, Handler] = {}
    for name, handler in registry.items():
        # An alias (dump_active, dump_tasks...) is read-only when its command is.
        command = handler.__name__
        handlers[name] = handler if command in READ_ONLY_COMMANDS else _refuse(name)
    handlers["hello"] = hello
    return handlers


class ReadOnlyControl(Control):
    """Celery's remote control step, answering through ``read_only_handlers``."""

    box: Any  # celery.worker.pidbox.Pidbox; celery-types leaves the attribute out

    def __init__(self, c: Consumer, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        # A dict of its own: Celery's registry (Panel.data) is global and stays untouched.
        self.box.node.handlers = read_only_handlers()


class NeverDiscardedRequest(Request):
    """A sync task's request: a revoked or expired id never makes the worker ack it away unrun.

    The remote control refuses ``revoke``; this holds even so (an id merged from an older
    worker at start-up, say): the task runs, and the catalog skips it if it is stale.
    """

    def revoked(self) -> bool:
        if self.id in worker_state.revoked or self.expires:
            logger.warning(
                "task_id=%s is marked revoked or expired; running it anyway (sync tasks are never discarded)", self.id
            )
        return False
