"""The compose broker as it is set up: an operator instead of guest, one user per service.

One throw-away node runs the shipped docker/rabbitmq/ configuration with
RABBITMQ_DEFAULT_USER/PASS, as the compose `rabbitmq` service does; the
`rabbitmq-init` one-shot (docker/rabbitmq/provision.py) creates the vhost and the
service users; the relay, a worker and Flower run from their start scripts with
production settings, each with its own user, and the product-sync path works.
Then each user is shown to be refused what is not its job.
"""

import pika
import pytest
import requests
from pika.exceptions import ChannelClosedByBroker, ProbableAuthenticationError

from sync_contract import SYNC_EXCHANGE, SYNC_QUEUE, SYNC_ROUTING_KEY
from testkit.waiting import wait_until
from tests.deploy.brokers import VHOST
from tests.deploy.stack import ADMIN_SETTINGS, CATALOG_SETTINGS, production, run_migrate

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

ACCESS_REFUSED = 403


def refused(action) -> int:
    """Run a broker action expected to be refused; return the broker's reply code."""
    with pytest.raises(ChannelClosedByBroker) as caught:
        action()
    return caught.value.reply_code


def test_provisioning_is_repeatable_and_refuses_bad_input(single_broker):
    first = single_broker.provision()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "user product_admin: password and permissions on product_sync set" in first.stdout
    again = single_broker.provision()
    assert again.returncode == 0, again.stdout + again.stderr
    for secret in single_broker.passwords.values():
        assert secret not in first.stdout + first.stderr

    # A password that would break the broker URLs it goes into is refused up front.
    unsafe = single_broker.provision(env={"BROKER_FLOWER_PASSWORD": "pa@ss/word"})
    assert unsafe.returncode != 0
    assert "BROKER_FLOWER_PASSWORD may contain only" in unsafe.stderr
    missing = single_broker.provision(env={"BROKER_CATALOG_PASSWORD": ""})
    assert missing.returncode != 0
    assert "BROKER_CATALOG_PASSWORD must be set" in missing.stderr
    wrong = single_broker.provision(env={"BROKER_OPERATOR_PASSWORD": "not-the-operators"})
    assert wrong.returncode != 0
    assert "login was refused" in wrong.stderr


def test_each_service_user_does_its_job_and_nothing_else(single_broker, make_deploy_stack):
    broker = single_broker
    node = broker.nodes[0]
    result = broker.provision()
    assert result.returncode == 0, result.stdout + result.stderr
    stack = make_deploy_stack(broker, VHOST)
    run_migrate(stack, broker.service_url("catalog"))

    worker = stack.start("catalog-worker", env=production(stack, CATALOG_SETTINGS, broker.service_url("catalog")))
    relay = stack.start("admin-relay", env=production(stack, ADMIN_SETTINGS, broker.service_url("product_admin")))
    flower = stack.start("flower", env=production(stack, CATALOG_SETTINGS, broker.service_url("flower")))

    stack.edit_products("users", 20, updates=5, deletes=3)
    wait_until(stack.catalog_matches_admin, timeout=90, interval=0.2, what="catalog equals admin")
    assert stack.pending_outbox() == 0

    # Flower, with its own user: task events (the task list) and inspect replies (workers).
    auth = tuple(stack.flower_auth.split(":", 1))
    wait_until(
        lambda: requests.get(stack.url("flower", "/healthcheck"), timeout=3).ok, timeout=60, what="Flower answers"
    )

    def tasks_succeeded():
        tasks = requests.get(stack.url("flower", "/api/tasks"), auth=auth, timeout=5).json()
        states = [t["state"] for t in tasks.values() if t.get("name") == "catalog.sync_products"]
        return states if states and set(states) == {"SUCCESS"} else None

    wait_until(tasks_succeeded, timeout=60, interval=0.5, what="Flower shows the tasks succeeded")

    def workers_answer():
        workers = requests.get(stack.url("flower", "/api/workers?refresh=1"), auth=auth, timeout=15).json()
        return [name for name in workers if name.startswith("catalog@")]

    assert wait_until(workers_answer, timeout=60, interval=1, what="Flower inspects the worker")

    # What each user may not do.
    # The relay's user publishes; it cannot take product messages off the queue.
    with node.channel(VHOST, "product_admin", broker.passwords["product_admin"]) as channel:
        assert refused(lambda: channel.basic_get(SYNC_QUEUE, auto_ack=False)) == ACCESS_REFUSED
    # Flower's user can neither read nor send product messages.
    with node.channel(VHOST, "flower", broker.passwords["flower"]) as channel:
        assert refused(lambda: channel.basic_get(SYNC_QUEUE, auto_ack=False)) == ACCESS_REFUSED
    with node.channel(VHOST, "flower", broker.passwords["flower"]) as channel:

        def publish() -> None:
            channel.basic_publish(SYNC_EXCHANGE, SYNC_ROUTING_KEY, b"{}", pika.BasicProperties(delivery_mode=2))

        assert refused(publish) == ACCESS_REFUSED
    # There is no guest.
    with pytest.raises(ProbableAuthenticationError), node.channel(VHOST, "guest", "guest"):
        pass

    for process in (worker, relay, flower):
        assert process.alive(), process.name
        # A refusal while running would be a missing permission. Flower's start-up self-check
        # (manage.py check, sync.W021) declares the sync topology, which its user may not
        # do on purpose; that warning is expected and does not stop it.
        refusals = [
            line for line in process.log().splitlines() if "ACCESS_REFUSED" in line and "(sync.W021)" not in line
        ]
        assert refusals == [], process.name
