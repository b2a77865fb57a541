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
from pathlib import Path

import pytest

from sync_contract import MAX_BATCH
from testkit.events import envelope_of, wire_event
from testkit.messages import send_task, task_body
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def event(product_id: int, version: int = 1, **fields) -> dict:
    """A wire event, valid unless ``fields`` say otherwise."""
    values = {"sku": f"BI-{product_id}", "title": "bad input test", "price": "1.00", **fields}
    return wire_event(product_id, version, **values)


def body(events: list) -> bytes:
    return task_body(envelope_of(*events))


class MkdirOnLoad:
    """If anything ever unpickles this, a directory appears: proof that it ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))


def test_bad_messages_are_dead_lettered_never_run_and_the_worker_keeps_serving(reliability_stack, tmp_path):
    stack = reliability_stack()
    worker = stack.start("catalog-worker")
    stack.wait_for_consumers(1)
    markers = [tmp_path / "pickle-ran", tmp_path / "yaml-ran"]

    bad = {
        "malformed JSON": {"body": b'{"this is": not json'},
        "pickle content type": {
            "body": pickle.dumps(MkdirOnLoad(str(markers[0]))),
            "content_type": "application/x-python-serialize",
        },
        "yaml content type": {
            "body": f"!!python/object/apply:os.mkdir ['{markers[1]}']".encode(),
            "content_type": "application/x-yaml",
        },
        "unknown task name": {"body": body([event(9001)]), "task": "catalog.no_such_task"},
        "missing headers": {"body": body([event(9002)]), "with_headers": False},
        "wrong field types": {"body": body([{**event(9003, is_active="yes"), "version": "2"}])},
        "negative price": {"body": body([event(9004, price="-1.00")])},
        "unknown op": {"body": body([event(9005, op="merge")])},
        "oversize field (2 MB description)": {"body": body([event(9006, description="x" * 2_000_000)])},
        "batch over MAX_BATCH": {"body": body([event(10_000 + i) for i in range(MAX_BATCH + 1)])},
        # Good events beside one bad one: the message is all or nothing.
        "one bad event in a good batch": {"body": body([event(9100), event(9101), event(9102, price="NaN")])},
    }
    with stack.queues.channel() as channel:
        for spec in bad.values():
            send_task(channel, **spec)
        # The next good message, then a newer and an older version of one product.
        send_task(channel, body([event(5000)]))
        wait_until(lambda: 5000 in stack.catalog_live(), timeout=90, what="the good message applied")
        send_task(channel, body([event(5001, version=2)]))
        wait_until(lambda: stack.catalog_live().get(5001, (0,))[0] == 2, timeout=60, what="version 2 applied")
        stale_id = send_task(channel, body([event(5001, version=1, title="late")]))

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
