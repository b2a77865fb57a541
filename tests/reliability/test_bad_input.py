"""Bad input published raw (pika) onto the sync queue: dead-lettered with a reason,
never executed, nothing half-written, and the worker keeps serving good messages.

Bound on message size (what we found): RabbitMQ 3.10 refuses bodies above
``max_message_size`` (default 128 MiB; the broker closes the channel, so a
confirming publisher sees the failure). Well below that, the contract bounds a
message: at most MAX_BATCH events, each field length-limited
(description 10,000 characters), so a legitimate message stays under ~12 MB; a
bigger field or a longer batch is rejected by validation and dead-lettered.
"""

import json
import pickle
import uuid
from pathlib import Path

import pika
import pytest

from sync_contract import MAX_BATCH, SYNC_EXCHANGE, SYNC_ROUTING_KEY, TASK_SYNC_PRODUCTS
from tests.system.harness import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def event(product_id: int, version: int = 1, **overrides) -> dict:
    data = {
        "sku": f"BI-{product_id}",
        "title": "bad input test",
        "description": "",
        "price": "1.00",
        "image_url": "",
        "is_active": True,
    }
    data.update(overrides.pop("data", {}))
    raw = {
        "event_id": str(uuid.uuid4()),
        "product_id": product_id,
        "version": version,
        "op": "upsert",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "data": data,
    }
    raw.update(overrides)
    return raw


def body(events: list) -> bytes:
    return json.dumps([[{"schema_version": 1, "events": events}], {}, EMBED]).encode()


class MkdirOnLoad:
    """If anything ever unpickles this, a directory appears: proof that it ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))


def publish(
    channel, payload: bytes, *, content_type="application/json", task=TASK_SYNC_PRODUCTS, headers: bool = True
) -> str:
    task_id = str(uuid.uuid4())
    props = {"content_type": content_type, "content_encoding": "utf-8", "delivery_mode": 2, "correlation_id": task_id}
    if headers:
        props["headers"] = {
            "lang": "py",
            "task": task,
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "origin": "reliability",
        }
    channel.basic_publish(SYNC_EXCHANGE, SYNC_ROUTING_KEY, payload, pika.BasicProperties(**props))
    return task_id


def test_bad_messages_are_dead_lettered_never_run_and_the_worker_keeps_serving(reliability_stack, tmp_path):
    stack = reliability_stack()
    worker = stack.start("catalog-worker")
    stack.wait_for_consumers(1)
    markers = [tmp_path / "pickle-ran", tmp_path / "yaml-ran"]

    bad = {
        "malformed JSON": {"payload": b'{"this is": not json'},
        "pickle content type": {
            "payload": pickle.dumps(MkdirOnLoad(str(markers[0]))),
            "content_type": "application/x-python-serialize",
        },
        "yaml content type": {
            "payload": f"!!python/object/apply:os.mkdir ['{markers[1]}']".encode(),
            "content_type": "application/x-yaml",
        },
        "unknown task name": {"payload": body([event(9001)]), "task": "catalog.no_such_task"},
        "missing headers": {"payload": body([event(9002)]), "headers": False},
        "wrong field types": {"payload": body([event(9003, version="2", data={"is_active": "yes"})])},
        "negative price": {"payload": body([event(9004, data={"price": "-1.00"})])},
        "unknown op": {"payload": body([event(9005, op="merge")])},
        "oversize field (2 MB description)": {"payload": body([event(9006, data={"description": "x" * 2_000_000})])},
        "batch over MAX_BATCH": {"payload": body([event(10_000 + i) for i in range(MAX_BATCH + 1)])},
        # Good events beside one bad one: the message is all or nothing.
        "one bad event in a good batch": {
            "payload": body([event(9100), event(9101), event(9102, data={"price": "NaN"})])
        },
    }
    connection, channel = stack.broker.channel(stack.vhost)
    channel.confirm_delivery()
    try:
        for spec in bad.values():
            publish(channel, **spec)
        # The next good message, then a newer and an older version of one product.
        publish(channel, body([event(5000)]))
        wait_until(lambda: 5000 in stack.catalog_live(), timeout=90, what="the good message applied")
        publish(channel, body([event(5001, version=2)]))
        wait_until(lambda: stack.catalog_live().get(5001, (0,))[0] == 2, timeout=60, what="version 2 applied")
        stale_id = publish(channel, body([event(5001, version=1, data={"title": "late"})]))
    finally:
        connection.close()

    def stale_result():
        rows = stack.q(
            "catalog", "SELECT status, result FROM django_celery_results_taskresult WHERE task_id = %s", [stale_id]
        )
        return rows[0] if rows else None

    status, result = wait_until(stale_result, timeout=60, what="the stale event's task finished")
    assert status == "SUCCESS"
    assert json.loads(result) == {"applied": 0, "stale": 1}  # acknowledged, skipped, counted as stale
    assert stack.catalog_live()[5001][:3] == (2, "BI-5001", "bad input test")

    wait_until(
        lambda: stack.dead_letters() == len(bad),
        timeout=90,
        interval=0.5,
        what=f"{len(bad)} bad messages dead-lettered (have {stack.dead_letters()})",
    )
    assert set(stack.catalog_rows()) == {5000, 5001}  # nothing of any bad message was written
    assert not any(Path(m).exists() for m in markers), "a pickle/yaml payload was executed"
    assert worker.alive()

    listing = stack.manage("catalog", "dead_letters", "list").stdout
    print(listing)
    assert f"{len(bad)} message(s) in the dead-letter queue" in listing
    log = worker.log()
    for reason in (
        "undecodable message",
        ">= 0",
        "op must be one of",
        f"events must be a list of 1..{MAX_BATCH}",
        "is longer than 10000 characters",
        "must be a positive",
    ):
        assert reason in log, reason
