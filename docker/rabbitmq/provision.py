#!/usr/bin/env python3
"""One-shot set-up of the product-sync broker: the `rabbitmq-init` service of compose.

A RabbitMQ definitions file can only carry password hashes, so passwords kept in
.env cannot go there. Instead the node creates one administrator from
RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (the operator, instead of guest), and
this script, logged in as the operator, creates through the management HTTP API:

- the vhost (BROKER_VHOST, default ``product_sync``),
- one user per service, each with only the permissions it needs on that vhost:
  ``product_admin``  the admin service (relay, web): publishes to the sync exchange
                     and Celery's task-sent events; declares nothing; cannot consume;
  ``catalog``        the catalog worker and beat: the sync topology, delayed delivery,
                     events and remote control; not the dead letters;
  ``catalog_web``    the catalog web: reads, replays and purges the dead letters; cannot
                     consume the sync queue or declare anything;
  ``flower``         Flower: task events and inspect/control replies; cannot read or
                     publish product messages;
- the product-sync topology (sync_contract.topology: exchanges, the quorum queue
  and its dead-letter queue) and Celery's event exchange, declared as the operator: provisioning and the worker
  own the queues; the relay publishes ``mandatory`` and never declares, so a missing
  queue keeps its changes in the outbox (docs/decisions/0016-least-privilege.md),
- and removes ``guest`` if a node still has it.

It first waits until the API answers and BROKER_CLUSTER_SIZE nodes are running, so
that the quorum queues get a member on every node (a quorum queue's initial group
is the cluster as it is when the queue is declared).

Safe to run again: vhost, users, passwords and permissions are set to what the
environment says. Passwords go into broker URLs, so they must be URL-safe (letters,
digits, '-', '_', '.', '~'), e.g. ``python -c 'import secrets; print(secrets.token_urlsafe(24))'``.
No password is ever printed. Only the standard library and sync_contract are used.

Environment:
  BROKER_API_URL            management API of any node (default http://rabbitmq:15672)
  BROKER_AMQP_PORT          AMQP port of that node, for the topology (default 5672)
  BROKER_OPERATOR_USER      the administrator created by the node (default operator)
  BROKER_OPERATOR_PASSWORD  its password (required)
  BROKER_VHOST              the vhost of product sync (default product_sync)
  BROKER_ADMIN_PASSWORD     password of product_admin (required)
  BROKER_CATALOG_PASSWORD   password of catalog (required)
  BROKER_CATALOG_WEB_PASSWORD password of catalog_web (required)
  BROKER_FLOWER_PASSWORD    password of flower (required)
  BROKER_CLUSTER_SIZE       nodes that must be running before the set-up (default 1)
  BROKER_WAIT_TIMEOUT       seconds to wait for the API and the nodes (default 120)
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange

from sync_contract.names import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, SYNC_EXCHANGE, SYNC_QUEUE
from sync_contract.topology import declare_topology

# Celery's own names (its defaults, which neither service changes).
EVENT_EXCHANGE = "celeryev"  # task events: sent by the relay and workers, read by Flower
CONTROL_EXCHANGE = "celery.pidbox"  # broadcast commands (Flower's inspect)
REPLY_EXCHANGE = "reply.celery.pidbox"  # their replies

URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class ServiceUser:
    name: str
    password_variable: str
    permissions: Permissions


# What each AMQP operation needs (https://www.rabbitmq.com/docs/access-control): declaring
# (not passively) or deleting needs configure on the entity; a queue declared with a
# dead-letter exchange needs write on that exchange and read on the queue; queue.bind
# needs write on the queue and read on the exchange; publishing needs write on the
# exchange; basic.get, basic.consume and queue.purge need read on the queue. A passive
# declare (queue depth, the start-up checks) needs nothing.
NOTHING = "^$"
SYNC_TOPOLOGY = (SYNC_EXCHANGE, SYNC_QUEUE, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE)
# Celery's native delayed delivery (countdown retries on a quorum queue): exchanges and
# queues celery_delayed_0..27 and the exchange celery_delayed_delivery.
DELAYED_DELIVERY = r"celery_delayed_(delivery|[0-9]+)"
# Per-process queues: a node's mailbox <node>.celery.pidbox, a reply queue
# <uuid>.reply.celery.pidbox, an event (gossip, Flower) queue celeryev.<uuid>.
PROCESS_MAILBOX = r".+\." + re.escape(CONTROL_EXCHANGE)
REPLY_QUEUE = r".+\." + re.escape(REPLY_EXCHANGE)
EVENT_QUEUE = re.escape(EVENT_EXCHANGE) + r"\..+"


def matching(*patterns: str) -> str:
    """A permission pattern matching exactly the names these regular expressions match."""
    return "^(" + "|".join(patterns) + ")$"


def exactly(*names: str) -> str:
    """A permission pattern matching exactly these resource names."""
    return matching(*(re.escape(name) for name in names))


# The admin service (relay, web): publishes to the sync exchange (``mandatory``, declare=[])
# and its task-sent events to celeryev (sync.publisher declares neither). Nothing else:
# it cannot declare, delete or purge a queue, nor take a message off one.
PUBLISHER = Permissions(configure=NOTHING, write=exactly(SYNC_EXCHANGE, EVENT_EXCHANGE), read=NOTHING)
# The catalog worker and beat: declare and consume the sync queue (it owns the topology,
# docs/decisions/0016-least-privilege.md; a rejected message is dead-lettered by the
# broker, not by the worker), retry with a countdown (delayed delivery), send events,
# answer remote control and mingle/gossip with other workers. Not the dead letters.
_WORKER_CELERY = (
    DELAYED_DELIVERY,
    re.escape(EVENT_EXCHANGE),
    EVENT_QUEUE,
    re.escape(CONTROL_EXCHANGE),
    re.escape(REPLY_EXCHANGE),
    PROCESS_MAILBOX,
)
_WORKER_OWNS = matching(*(re.escape(name) for name in SYNC_TOPOLOGY), *_WORKER_CELERY)
WORKER = Permissions(
    configure=_WORKER_OWNS,
    write=_WORKER_OWNS,
    read=matching(re.escape(SYNC_EXCHANGE), re.escape(SYNC_QUEUE), re.escape(DEAD_LETTER_EXCHANGE), *_WORKER_CELERY),
)
# The catalog web (dead-letter page, `dead_letters`): reads, replays and purges the
# dead letters; queue depths by passive declare. It cannot consume the sync queue.
DEAD_LETTER_OPERATOR = Permissions(configure=NOTHING, write=exactly(SYNC_EXCHANGE), read=exactly(DEAD_LETTER_QUEUE))
# Flower: task events (its own celeryev.<uuid> queue) and inspect commands with their
# replies; it can neither read nor send product messages, nor purge a queue.
_MONITOR = (re.escape(EVENT_EXCHANGE), EVENT_QUEUE, re.escape(CONTROL_EXCHANGE), re.escape(REPLY_EXCHANGE), REPLY_QUEUE)
MONITOR = Permissions(
    configure=matching(*_MONITOR),
    write=matching(*_MONITOR),
    # Not the control exchange: Flower only publishes to it.
    read=matching(re.escape(EVENT_EXCHANGE), EVENT_QUEUE, re.escape(REPLY_EXCHANGE), REPLY_QUEUE),
)

SERVICE_USERS = (
    ServiceUser("product_admin", "BROKER_ADMIN_PASSWORD", PUBLISHER),
    ServiceUser("catalog", "BROKER_CATALOG_PASSWORD", WORKER),
    ServiceUser("catalog_web", "BROKER_CATALOG_WEB_PASSWORD", DEAD_LETTER_OPERATOR),
    ServiceUser("flower", "BROKER_FLOWER_PASSWORD", MONITOR),
)


def say(message: str) -> None:
    print(f"rabbitmq-init: {message}", flush=True)  # noqa: T201 - a one-shot's log is its stdout


class ManagementAPI:
    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, ok: tuple[int, ...] = (200, 201, 204)
    ) -> tuple[int, Any]:
        """The answer's status and its JSON (None when empty); any other status than ``ok`` ends the set-up."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own setting
            self.base_url + path, data=data, method=method, headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        if status not in ok:
            raise SystemExit(f"rabbitmq-init: {method} {path} answered {status}: {text[:300]}")
        return status, (json.loads(text) if text.strip() else None)


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"rabbitmq-init: {name} must be set (see .env.example)")
    return value


def password(name: str) -> str:
    value = required(name)
    if not URL_SAFE.match(value):
        raise SystemExit(
            f"rabbitmq-init: {name} may contain only letters, digits and - _ . ~ (it goes into broker URLs)"
        )
    return value


def wait_for_nodes(api: ManagementAPI, cluster_size: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            status, nodes = api.call("GET", "/api/nodes", ok=(200, 401, 503))
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        else:
            if status == 401:
                raise SystemExit("rabbitmq-init: the operator's login was refused (BROKER_OPERATOR_USER/PASSWORD)")
            if status == 200:
                running = sorted(node["name"] for node in nodes if node.get("running"))
                if len(running) >= cluster_size:
                    say(f"{len(running)} node(s) running: {', '.join(running)}")
                    return
                last = f"{len(running)} of {cluster_size} nodes running"
        if time.monotonic() >= deadline:
            raise SystemExit(f"rabbitmq-init: the broker is not ready after {timeout:.0f}s ({last})")
        time.sleep(1)


def declare(host: str, port: int, vhost: str, operator: str, operator_password: str) -> None:
    # The same kombu entities the services declare, so their declarations are equivalent.
    with Connection(
        hostname=host, port=port, userid=operator, password=operator_password, virtual_host=vhost, connect_timeout=10
    ) as connection:
        connection.ensure_connection(max_retries=5, interval_start=1, interval_step=1)
        channel = connection.default_channel
        declare_topology(channel)
        # The relay publishes its task-sent events without declaring (it may not): Celery's exchange.
        Exchange(EVENT_EXCHANGE, type="topic", durable=True).declare(channel=channel)
    say(f"topology declared: {DEAD_LETTER_QUEUE}, {SYNC_QUEUE}, {EVENT_EXCHANGE}")


def provision(api: ManagementAPI, vhost: str, operator: str, passwords: dict[str, str]) -> None:
    api.call("PUT", f"/api/vhosts/{quote(vhost)}", {})
    say(f"vhost {vhost}: present")
    api.call(
        "PUT", f"/api/permissions/{quote(vhost)}/{quote(operator)}", {"configure": ".*", "write": ".*", "read": ".*"}
    )
    for user in SERVICE_USERS:
        # No tags: service users cannot log in to the management UI or API.
        api.call("PUT", f"/api/users/{quote(user.name)}", {"password": passwords[user.name], "tags": ""})
        permissions = user.permissions
        api.call(
            "PUT",
            f"/api/permissions/{quote(vhost)}/{quote(user.name)}",
            {"configure": permissions.configure, "write": permissions.write, "read": permissions.read},
        )
        say(f"user {user.name}: password and permissions on {vhost} set")


def remove_guest(api: ManagementAPI, operator: str) -> None:
    if operator != "guest":
        status, _ = api.call("DELETE", "/api/users/guest", ok=(204, 404))
        if status == 204:
            say("user guest: removed")


def main() -> None:
    api_url = os.environ.get("BROKER_API_URL") or "http://rabbitmq:15672"
    api_host = urllib.parse.urlsplit(api_url).hostname
    if not api_host:
        raise SystemExit("rabbitmq-init: BROKER_API_URL must name a host, e.g. http://rabbitmq:15672")
    operator = os.environ.get("BROKER_OPERATOR_USER") or "operator"
    operator_password = required("BROKER_OPERATOR_PASSWORD")
    api = ManagementAPI(api_url, operator, operator_password)
    vhost = os.environ.get("BROKER_VHOST") or "product_sync"
    passwords = {user.name: password(user.password_variable) for user in SERVICE_USERS}
    cluster_size = int(os.environ.get("BROKER_CLUSTER_SIZE") or 1)
    timeout = float(os.environ.get("BROKER_WAIT_TIMEOUT") or 120)

    say(f"waiting for {cluster_size} running node(s) at {api_url}")
    wait_for_nodes(api, cluster_size, timeout)
    provision(api, vhost, operator, passwords)
    amqp_port = int(os.environ.get("BROKER_AMQP_PORT") or 5672)
    declare(api_host, amqp_port, vhost, operator, operator_password)
    remove_guest(api, operator)
    say("done")


if __name__ == "__main__":
    main()
