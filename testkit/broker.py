"""RabbitMQ for the tests: the machine's shared node, vhosts of one test or module, and
throw-away nodes of a test's own (own name, ports and data directory; safe to stop).

Every channel opened here has publisher confirms on: a publish that returns was taken.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pika.exceptions

from testkit.paths import free_port
from testkit.waiting import wait_until

RABBIT_PORT = int(os.environ.get("TEST_RABBIT_PORT", "5672"))
NOT_FOUND = 404
# Nothing listens on port 1: a broker that refuses every connection at once.
REFUSING_URL = "amqp://guest:guest@127.0.0.1:1//"


def rabbitmqctl(*args: str, node: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=check)


@contextmanager
def open_channel(port: int, vhost: str, user: str, password: str) -> Iterator[Any]:
    """A confirming channel on its own connection, closed on leaving the block."""
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=port,
        virtual_host=vhost,
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=1,
        socket_timeout=5,
        blocked_connection_timeout=5,
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        if connection.is_open:
            connection.close()


@dataclass
class Broker:
    """A RabbitMQ node reachable on ``port`` as guest, addressed by ``node`` for rabbitmqctl."""

    port: int = RABBIT_PORT
    node: str | None = None  # None: the machine's shared node

    def add_vhost(self, name: str) -> None:
        rabbitmqctl("add_vhost", name, node=self.node)
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*", node=self.node)

    def delete_vhost(self, name: str) -> None:
        rabbitmqctl("delete_vhost", name, node=self.node, check=False)

    def url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def channel(self, vhost: str) -> Any:
        """``with broker.channel(vhost) as channel:`` (a context manager)."""
        return open_channel(self.port, vhost, "guest", "guest")

    def is_listening(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def vhost(self, name: str) -> Vhost:
        return Vhost(self, name)


@dataclass(frozen=True)
class Vhost:
    """One vhost of a broker and what the tests do with its queues."""

    broker: Broker
    name: str

    @property
    def url(self) -> str:
        return self.broker.url(self.name)

    def channel(self) -> Any:
        return self.broker.channel(self.name)

    def queue_info(self, queue: str) -> Any:
        """A passive declare's answer (message_count, consumer_count) of an existing queue."""
        with self.channel() as channel:
            return channel.queue_declare(queue, passive=True).method

    def depth(self, queue: str) -> int:
        count: int = self.queue_info(queue).message_count
        return count

    def consumers(self, queue: str) -> int:
        count: int = self.queue_info(queue).consumer_count
        return count

    def provision(self) -> None:
        """Declare the sync topology as provisioning does (docker/rabbitmq/provision.py): the
        relay declares nothing, so a vhost without it holds every change in the outbox."""
        from sync_contract.topology import dead_letter_queue, sync_queue

        with self.channel() as channel:
            for queue in (dead_letter_queue, sync_queue):
                exchange = queue.exchange
                channel.exchange_declare(exchange.name, exchange.type, durable=True)
                channel.queue_declare(queue.name, durable=True, arguments=queue.queue_arguments)
                channel.queue_bind(queue.name, exchange.name, queue.routing_key)

    def purge(self, *queues: str) -> None:
        """Empty the queues that exist (a queue not declared yet is empty)."""
        for queue in queues:
            try:
                with self.channel() as channel:
                    channel.queue_purge(queue)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != NOT_FOUND:
                    raise

    def drain(self, queue: str) -> list[tuple[Any, bytes]]:
        """Take every message off ``queue`` (acked): (properties, body) pairs."""
        taken: list[tuple[Any, bytes]] = []
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return taken
                taken.append((properties, body))

    def take_json(self, queue: str, count: int, *, timeout: float) -> list[tuple[Any, Any]]:
        """Take ``count`` messages off ``queue`` (their bodies parsed as JSON), waiting up to ``timeout``."""
        taken: list[tuple[Any, Any]] = []
        with self.channel() as channel:

            def got_all() -> bool:
                while len(taken) < count:
                    method, properties, body = channel.basic_get(queue, auto_ack=True)
                    if method is None:
                        return False
                    taken.append((properties, json.loads(body)))
                return True

            wait_until(got_all, timeout=timeout, what=f"{count} messages in {queue}")
        return taken


@contextmanager
def temporary_vhost(broker: Broker, prefix: str) -> Iterator[Vhost]:
    """A fresh vhost, deleted with everything in it on leaving the block."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    broker.add_vhost(name)
    try:
        yield broker.vhost(name)
    finally:
        broker.delete_vhost(name)


class ThrowawayBroker(Broker):
    """A RabbitMQ node of the test's own: own name, ports and data dir; safe to stop and kill."""

    def __init__(self) -> None:
        port = free_port()
        super().__init__(port=port, node=f"systest{port}@localhost")
        self.base = Path(tempfile.mkdtemp(prefix="rabbit-", dir="/tmp"))
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n")
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        for path in [self.base, *self.base.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": str(self.node),
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
        }

    def start_detached(self) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, timeout=30)

    def await_startup(self) -> None:
        wait_until(
            lambda: rabbitmqctl("await_startup", "--timeout", "5", node=self.node, check=False).returncode == 0,
            timeout=90,
            interval=0.5,
            what=f"broker {self.node} started",
        )

    def start(self) -> None:
        self.start_detached()
        self.await_startup()

    def stop(self) -> None:
        rabbitmqctl("stop", node=self.node, check=False)
        wait_until(lambda: not self.is_listening(), timeout=60, what=f"broker {self.node} stopped")

    def destroy(self) -> None:
        if self.is_listening():
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def throwaway_broker() -> Iterator[ThrowawayBroker]:
    """A started throw-away node, destroyed on leaving the block."""
    broker = ThrowawayBroker()
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()
