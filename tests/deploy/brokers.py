"""Throw-away RabbitMQ nodes set up as docker-compose.yml sets up its brokers.

Each node runs the shipped docker/rabbitmq/ files (rabbitmq.conf, enabled_plugins)
from a conf.d directory, as the image does, plus one small file of its own with
this machine's differences: its own ports on 127.0.0.1 instead of the container's
5672/15672/15692. Like a compose broker, a node creates an operator user from
RABBITMQ_DEFAULT_USER/PASS instead of guest, and docker/rabbitmq/provision.py (the
`rabbitmq-init` service) creates the vhost, the service users and the sync queues.

The machine's shared node (rabbit@localhost) is never touched: every node here has
its own name, ports and data directory, and is stopped and removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from testkit.broker import Broker, ThrowawayBroker, open_channel, rabbitmqctl
from testkit.paths import REPO, free_port
from testkit.waiting import wait_until

RABBITMQ_DIR = REPO / "docker" / "rabbitmq"
PROVISION = RABBITMQ_DIR / "provision.py"
VHOST = "product_sync"
OPERATOR = "operator"
# The service users that provision.py creates, and what uses each one.
SERVICE_USERS = ("product_admin", "catalog", "catalog_web", "flower")


def secret() -> str:
    return uuid.uuid4().hex


class ComposeLikeNode(ThrowawayBroker):
    """One throw-away node with the shipped configuration and the management plugin."""

    def __init__(self, operator_password: str) -> None:
        super().__init__()
        self.operator_password = operator_password
        self.management_port = free_port()
        self.prometheus_port = free_port()
        conf_d = self.base / "conf.d"
        conf_d.mkdir()
        # Same file names and order as the mounts in docker-compose.yml.
        shutil.copy(RABBITMQ_DIR / "rabbitmq.conf", conf_d / "30-product-sync.conf")
        (conf_d / "90-this-machine.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.management_port}\n"
            f"prometheus.tcp.ip = 127.0.0.1\n"
            f"prometheus.tcp.port = {self.prometheus_port}\n"
        )
        # The node's main file stays empty: everything comes from conf.d, as in the image.
        (self.base / "rabbitmq.conf").write_text("")
        shutil.copy(RABBITMQ_DIR / "enabled_plugins", self.base / "enabled_plugins")
        for path in [self.base, *self.base.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env.update(
            RABBITMQ_CONFIG_FILES=str(conf_d),
            RABBITMQ_DEFAULT_USER=OPERATOR,
            RABBITMQ_DEFAULT_PASS=operator_password,
            RABBITMQ_DEFAULT_VHOST=VHOST,
        )
        self.killed = False

    def add_conf(self, name: str, text: str) -> None:
        """One more file in the node's conf.d (before it starts), as compose mounts cluster.conf."""
        path = self.base / "conf.d" / name
        path.write_text(text)
        shutil.chown(path, "rabbitmq", "rabbitmq")

    # --- as the operator (there is no guest on these nodes) ---------------------------

    def channel(self, vhost: str, user: str = OPERATOR, password: str | None = None) -> Any:
        """``with node.channel(vhost[, user, password]) as channel:`` (as the operator by default)."""
        return open_channel(self.port, vhost, user, password or self.operator_password)

    def amqp_url(self, user: str, password: str, vhost: str = VHOST) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/{vhost}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    # --- harsh ending -----------------------------------------------------------------

    def os_pid(self) -> int:
        out = rabbitmqctl("eval", "os:getpid().", node=self.node).stdout
        return int(re.search(r"\d+", out).group())

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: no goodbye to its peers or its clients."""
        pid = self.os_pid()
        os.kill(pid, signal.SIGKILL)
        self.killed = True
        wait_until(lambda: not self.is_listening(), timeout=30, what=f"{self.node} gone")

    def destroy(self) -> None:
        if not self.killed and self.is_listening():
            with contextlib.suppress(Exception):  # teardown: remove the rest even if one stop fails
                self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class ComposeLikeCluster(Broker):
    """Three ComposeLikeNodes joined with ``rabbitmqctl join_cluster``, seen as one Broker.

    ``url(vhost)`` lists every node, separated by ';' (kombu's failover list), as the
    services' CELERY_BROKER_URL does in docker-compose.yml.
    """

    def __init__(self, size: int = 3) -> None:
        self.operator_password = secret()
        self.passwords = {user: secret() for user in SERVICE_USERS}
        self.nodes = [ComposeLikeNode(self.operator_password) for _ in range(size)]
        super().__init__(port=self.nodes[0].port, node=self.nodes[0].node)

    def start(self) -> None:
        seed, *others = self.nodes
        seed.start()
        # The others boot in parallel, then join the seed one by one.
        for node in others:
            node.start_detached()
        for node in others:
            node.await_startup()
            rabbitmqctl("stop_app", node=node.node)
            rabbitmqctl("join_cluster", seed.node, node=node.node)
            rabbitmqctl("start_app", node=node.node)
        wait_until(
            lambda: len(self.running_nodes()) == len(self.nodes),
            timeout=60,
            interval=0.5,
            what="every node running in the cluster",
        )

    def running_nodes(self, via: ComposeLikeNode | None = None) -> list[str]:
        via = via or self.alive_node()
        out = rabbitmqctl("eval", "rabbit_nodes:all_running().", node=via.node).stdout
        return re.findall(r"'?([\w.-]+@[\w.-]+)'?", out)

    def alive_node(self) -> ComposeLikeNode:
        return next(node for node in self.nodes if not node.killed)

    def provision(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run the `rabbitmq-init` one-shot against the first node, as compose does (``env`` overrides)."""
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BROKER_")},
            "BROKER_API_URL": self.nodes[0].api_url,
            "BROKER_AMQP_PORT": str(self.nodes[0].port),
            "BROKER_OPERATOR_USER": OPERATOR,
            "BROKER_OPERATOR_PASSWORD": self.operator_password,
            "BROKER_VHOST": VHOST,
            "BROKER_ADMIN_PASSWORD": self.passwords["product_admin"],
            "BROKER_CATALOG_PASSWORD": self.passwords["catalog"],
            "BROKER_CATALOG_WEB_PASSWORD": self.passwords["catalog_web"],
            "BROKER_FLOWER_PASSWORD": self.passwords["flower"],
            "BROKER_CLUSTER_SIZE": str(len(self.nodes)),
            "BROKER_WAIT_TIMEOUT": "60",
            **(env or {}),
        }
        return subprocess.run(
            [sys.executable, str(PROVISION)], env=full_env, capture_output=True, text=True, timeout=120, check=False
        )

    def service_url(self, user: str, vhost: str = VHOST) -> str:
        """A service's CELERY_BROKER_URL: every node, in order, separated by ';'."""
        return ";".join(node.amqp_url(user, self.passwords[user], vhost) for node in self.nodes)

    # --- Broker, as testkit.stack.Stack uses it ----------------------------------------

    def add_vhost(self, name: str) -> None:
        if name != VHOST:
            raise ValueError(f"the cluster serves the provisioned vhost {VHOST!r} only")

    def delete_vhost(self, name: str) -> None:
        """The whole cluster is thrown away after the test."""

    def url(self, vhost: str) -> str:
        return self.service_url("catalog", vhost)

    def channel(self, vhost: str) -> Any:
        return self.alive_node().channel(vhost)

    def quorum_status(self, queue: str, vhost: str = VHOST) -> dict[str, str]:
        """Each member node of a quorum queue and its Raft state (leader, follower, ...)."""
        result = subprocess.run(
            [
                "rabbitmq-queues",
                "--node",
                self.alive_node().node,
                "--formatter",
                "json",
                "quorum_status",
                "--vhost",
                vhost,
                queue,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        rows = json.loads(result.stdout)
        return {row["Node Name"]: row["Raft State"] for row in rows}

    def destroy(self) -> None:
        # In parallel: a node takes seconds to stop, and they do not wait for each other.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(ComposeLikeNode.destroy, self.nodes))
