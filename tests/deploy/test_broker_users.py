"""The compose broker as it is set up: an operator instead of guest, one user per service.

One throw-away node runs the shipped docker/rabbitmq/ configuration with
RABBITMQ_DEFAULT_USER/PASS, as the compose `rabbitmq` service does; the
`rabbitmq-init` one-shot (docker/rabbitmq/provision.py) creates the vhost and the
service users; the relay, a worker and Flower run from their start scripts with
production settings, each with its own user, and the product-sync path works; the
catalog web lists, replays and purges dead letters with its own user.
Then each user is shown to be refused what is not its job.
"""

import pika
import pytest
import requests
from pika.exceptions import ChannelClosedByBroker, ProbableAuthenticationError

from sync_contract import DEAD_LETTER_QUEUE, SYNC_EXCHANGE, SYNC_QUEUE, SYNC_ROUTING_KEY
from sync_contract.topology import sync_queue
from testkit.events import envelope_of, wire_event
from testkit.messages import new_task_id, send_dead_letter, task_body
from testkit.waiting import wait_until
from tests.deploy.brokers import VHOST
from tests.deploy.stack import ADMIN_SETTINGS, CATALOG_SETTINGS, production, run_migrate

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

ACCESS_REFUSED = 403


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
    wait_until(lambda: stack.pending_outbox() == 0, timeout=30, what="every event marked published")

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

    # The catalog web, with its own user: the dead letters (list, replay, purge), its readiness.
    web_env = production(stack, CATALOG_SETTINGS, broker.service_url("catalog_web"))
    web = stack.start("catalog-web", env=web_env)
    wait_until(lambda: requests.get(stack.url("catalog", "/readyz"), timeout=3).ok, timeout=60, what="web ready")
    with node.channel(VHOST) as channel:
        send_dead_letter(
            channel,
            task_body(envelope_of(wire_event(4242, 1, sku="REPLAYED"))),
            reason="delivery_limit",
            task_id=(replayable := new_task_id()),
        )
        send_dead_letter(channel, b"{not json", reason="rejected", task_id=None)
    listing = stack.manage("catalog", "dead_letters", "list", env=web_env).stdout
    assert "2 message(s)" in listing
    assert replayable in listing
    stack.manage("catalog", "dead_letters", "replay", replayable, env=web_env)
    wait_until(lambda: 4242 in stack.catalog_live(), timeout=30, what="the replayed message applied")
    assert "purged 1 message(s)" in stack.manage("catalog", "dead_letters", "purge", "--yes", env=web_env).stdout

    # What each user may not do. Declaring (not passively) or deleting a queue needs configure,
    # taking or purging its messages needs read, publishing needs write on the exchange.
    def declare(channel) -> None:
        channel.queue_declare(SYNC_QUEUE, durable=True, arguments=dict(sync_queue.queue_arguments))

    def publish(channel) -> None:
        channel.basic_publish(SYNC_EXCHANGE, SYNC_ROUTING_KEY, b"{}", pika.BasicProperties(delivery_mode=2))

    forbidden = {
        # The relay's user publishes: it cannot declare, delete, purge or take product messages.
        "product_admin": {
            "declare the sync queue": declare,
            "delete the sync queue": lambda channel: channel.queue_delete(SYNC_QUEUE),
            "purge the sync queue": lambda channel: channel.queue_purge(SYNC_QUEUE),
            "consume the sync queue": lambda channel: channel.basic_get(SYNC_QUEUE, auto_ack=False),
            "read the dead letters": lambda channel: channel.basic_get(DEAD_LETTER_QUEUE, auto_ack=False),
        },
        # The catalog web's user handles the dead letters only.
        "catalog_web": {
            "consume the sync queue": lambda channel: channel.basic_get(SYNC_QUEUE, auto_ack=False),
            "purge the sync queue": lambda channel: channel.queue_purge(SYNC_QUEUE),
            "declare the sync queue": declare,
            "delete the dead-letter queue": lambda channel: channel.queue_delete(DEAD_LETTER_QUEUE),
            "send an event": lambda channel: channel.basic_publish("celeryev", "worker.x", b"{}"),
        },
        # The worker's user owns the sync queue but not the dead letters.
        "catalog": {
            "read the dead letters": lambda channel: channel.basic_get(DEAD_LETTER_QUEUE, auto_ack=False),
            "purge the dead letters": lambda channel: channel.queue_purge(DEAD_LETTER_QUEUE),
        },
        # Flower's user can neither read nor send product messages, nor purge or delete a queue.
        "flower": {
            "consume the sync queue": lambda channel: channel.basic_get(SYNC_QUEUE, auto_ack=False),
            "publish to the sync exchange": publish,
            "purge the sync queue": lambda channel: channel.queue_purge(SYNC_QUEUE),
            "purge the dead letters": lambda channel: channel.queue_purge(DEAD_LETTER_QUEUE),
            "delete the sync queue": lambda channel: channel.queue_delete(SYNC_QUEUE),
        },
    }
    allowed = []
    for user, actions in forbidden.items():
        for what, action in actions.items():
            with node.channel(VHOST, user, broker.passwords[user]) as channel:
                try:
                    action(channel)
                except ChannelClosedByBroker as exc:
                    refusal = exc.reply_code
                else:
                    refusal = None
                if refusal != ACCESS_REFUSED:
                    allowed.append(f"{user} may {what} (reply {refusal})")
    assert allowed == []
    with node.channel(VHOST) as channel:
        assert channel.queue_declare(SYNC_QUEUE, passive=True).method.message_count >= 0  # still there
    # There is no guest.
    with pytest.raises(ProbableAuthenticationError), node.channel(VHOST, "guest", "guest"):
        pass

    for process in (worker, relay, flower, web):
        assert process.alive(), process.name
        # A refusal while running would be a missing permission.
        refusals = [line for line in process.log().splitlines() if "ACCESS_REFUSED" in line]
        assert refusals == [], process.name
