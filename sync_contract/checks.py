"""Start-up self-check of the sync settings, as Django system checks.

Both services register these in ``AppConfig.ready``; ``manage.py check`` (run by
every start script) and every management command that runs checks (the relay's
``relay_outbox`` included) report them before any message moves.

- ``sync.E001`` to ``sync.E012``: a Celery setting that breaks a guarantee (confirms,
  JSON only, acks late, the quorum queue's dead-lettering and delivery limit).
- ``sync.E020``: the broker holds the queues with other arguments (PRECONDITION_FAILED):
  nothing could be declared, published or consumed until that is fixed.
- ``sync.W021``: the broker cannot be reached or refuses the login. Only a warning:
  the relay and the web processes must start while the broker is down (edits are
  kept in the outbox); the relay and the worker reconnect by themselves.

- ``sync.W022``: the sync queue does not exist (yet). The relay keeps the changes in the
  outbox until the worker (or provisioning) declares it.

The broker check (tag ``sync_broker``) connects with a short timeout. In the catalog,
whose worker owns the queues, it declares the topology exactly as the worker does on
connecting (idempotent; a user refused the declare, the catalog web's, only looks);
in the admin, whose relay only publishes, it looks (passive
declares, which create nothing). ``manage.py check --tag sync`` runs the settings checks
alone: Flower does that, as its broker user may only read task events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery
from django.apps import AppConfig
from django.core import checks

from sync_contract.names import DEAD_LETTER_EXCHANGE, SYNC_EXCHANGE, SYNC_QUEUE

BROKER_CHECK_TIMEOUT = 3.0
TAG = "sync"
BROKER_TAG = "sync_broker"


def _get(conf: Mapping[str, Any], name: str, default: Any = None) -> Any:
    try:
        return conf[name]
    except KeyError:
        return default


def check_celery_conf(conf: Mapping[str, Any]) -> list[checks.CheckMessage]:
    """Pure: the messages for one Celery configuration (``app.conf`` or a dict of its keys)."""
    errors: list[checks.CheckMessage] = []

    def error(id_: str, msg: str, hint: str) -> None:
        errors.append(checks.Error(msg, hint=hint, id=f"sync.{id_}"))

    options = _get(conf, "broker_transport_options") or {}
    if not options.get("confirm_publish"):
        error(
            "E001",
            "publisher confirms are off (broker_transport_options['confirm_publish'] is not true)",
            "A publish must return only once the broker has the message; use sync_contract.celery_settings.",
        )
    for name in ("task_serializer", "result_serializer"):
        if _get(conf, name) != "json":
            error("E002", f"{name} is {_get(conf, name)!r}, not 'json'", "Only JSON travels; nothing pickled.")
    for name in ("accept_content", "result_accept_content"):
        value = _get(conf, name)
        if value is None or (set(value) != {"json"} and set(value) != {"application/json"}):
            error("E003", f"{name} is {value!r}, not ['json']", "Accept JSON only: nothing else is ever loaded.")
    if not _get(conf, "task_acks_late"):
        error("E004", "task_acks_late is off", "Ack after the task ran, or a killed worker loses its message.")
    if not _get(conf, "task_reject_on_worker_lost"):
        error(
            "E005",
            "task_reject_on_worker_lost is off",
            "A message whose worker died must go back to the queue, not be acked.",
        )
    if _get(conf, "task_acks_on_failure_or_timeout"):
        error(
            "E006",
            "task_acks_on_failure_or_timeout is on",
            "A failed task must be rejected (dead-lettered), not acked away.",
        )

    queues = {q.name: q for q in (_get(conf, "task_queues") or ())}
    queue = queues.get(SYNC_QUEUE)
    if queue is None:
        error(
            "E007",
            f"the task queue {SYNC_QUEUE!r} is not configured (task_queues)",
            "Use sync_contract.topology.sync_queue in CELERY_TASK_QUEUES.",
        )
        return errors
    args = queue.queue_arguments or {}
    if args.get("x-queue-type") != "quorum" or not queue.durable:
        error(
            "E008",
            f"{SYNC_QUEUE} is not a durable quorum queue (x-queue-type={args.get('x-queue-type')!r})",
            "Only a quorum queue has a delivery limit and at-least-once dead-lettering.",
        )
    if args.get("x-dead-letter-exchange") != DEAD_LETTER_EXCHANGE:
        error(
            "E009",
            f"{SYNC_QUEUE} has no dead-letter exchange {DEAD_LETTER_EXCHANGE!r} "
            f"(x-dead-letter-exchange={args.get('x-dead-letter-exchange')!r})",
            "A rejected message would be dropped instead of kept in the dead-letter queue.",
        )
    limit = args.get("x-delivery-limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        error(
            "E010",
            f"{SYNC_QUEUE} has no delivery limit (x-delivery-limit={limit!r})",
            "A message that kills its worker every time would loop forever.",
        )
    if args.get("x-dead-letter-strategy") == "at-least-once" and args.get("x-overflow") != "reject-publish":
        error("E011", "at-least-once dead-lettering needs x-overflow=reject-publish", "See sync_contract.topology.")
    if queue.exchange is None or queue.exchange.name != SYNC_EXCHANGE or queue.exchange.type != "topic":
        error(
            "E012",
            f"{SYNC_QUEUE} must be bound to the topic exchange {SYNC_EXCHANGE!r}",
            "Celery's native delayed delivery (countdown retries) works only with a topic exchange.",
        )
    return errors


def check_broker(
    app: Celery, *, declares: bool = True, timeout: float = BROKER_CHECK_TIMEOUT
) -> list[checks.CheckMessage]:
    """Connect once (short timeout); declare the topology as the worker does (``declares``),
    or only look whether the sync queue exists."""
    from amqp.exceptions import AccessRefused, NotFound, PreconditionFailed

    from sync_contract.broker import amqp_channel, connect_once
    from sync_contract.topology import declare_topology

    url = app.conf.broker_url
    try:
        with app.connection_for_write(connect_timeout=timeout) as connection:
            where = connection.as_uri()  # the password masked
            connect_once(connection, timeout=timeout)
            channel = amqp_channel(connection)
            try:
                if declares:
                    try:
                        declare_topology(channel)
                    except AccessRefused:
                        # A user that may not declare (the catalog web's) only looks, on a new channel.
                        channel = amqp_channel(connection)
                        channel.queue_declare(queue=SYNC_QUEUE, passive=True)
                else:
                    channel.queue_declare(queue=SYNC_QUEUE, passive=True)
            finally:
                if channel.is_open:
                    channel.close()
    except PreconditionFailed as exc:
        return [
            checks.Error(
                f"the broker holds the sync queues with other arguments than the contract: {exc}",
                hint="Fix the settings to match sync_contract.topology. Never delete a sync queue that "
                "holds messages: they would be lost (docs/operations.md, changing the queues).",
                id="sync.E020",
            )
        ]
    except NotFound:
        return [
            checks.Warning(
                f"the sync queue {SYNC_QUEUE!r} does not exist on the broker",
                hint="Changes stay in the outbox (nothing is lost) until a worker starts or provisioning "
                "declares the queue (docker/rabbitmq/provision.py).",
                id="sync.W022",
            )
        ]
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported, not raised
        where = locals().get("where") or _mask(url)
        return [
            checks.Warning(
                f"the broker at {where} cannot be reached now ({type(exc).__name__}: {exc})",
                hint="Edits are kept in the outbox and published when it is back; check CELERY_BROKER_URL "
                "and the broker if this persists.",
                id="sync.W021",
            )
        ]
    return []


def _mask(url: Any) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(str(url)) if url else "?"


def register(app: Celery, *, declares: bool) -> None:
    """Register the checks for this service's Celery ``app`` (called from ``AppConfig.ready``);
    ``declares``: the service owns the queues (the catalog's worker), or only publishes."""

    def celery_settings_check(
        *, app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
    ) -> list[checks.CheckMessage]:
        return check_celery_conf(app.conf)

    def broker_check(*, app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
        return check_broker(app, declares=declares)

    from sync_contract.debug import check_debug_variable

    checks.register(celery_settings_check, TAG)
    checks.register(check_debug_variable, TAG)
    checks.register(broker_check, BROKER_TAG)
