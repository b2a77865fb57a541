"""The outbox relay against the real RabbitMQ, in a throw-away vhost, and the real database.

The relay commits what it claims and marks, so these tests use real transactions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg2
import pytest
from django.db import connection, transaction
from django.utils import timezone

from products.models import OutboxEvent
from products.selectors import products_with_sync_state
from products.services import product_delete, product_import, product_update
from products.sql import RELAY_PROMISE_LOCK
from products.tests.factories import make_product
from sync import publisher as publisher_module
from sync.prune import prune_published
from sync.publisher import Publisher
from sync.relay import BURST_EVENTS, RelayConfig, relay_round
from sync_contract import SYNC_QUEUE, TASK_SYNC_PRODUCTS, validate_envelope
from testkit.broker import REFUSING_URL, Vhost
from testkit.django_fixtures import PointAt
from testkit.messages import task_argument
from testkit.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def take_messages(vhost: Vhost, count: int, *, timeout: float = 10.0) -> list[tuple[Any, Any]]:
    """Take ``count`` messages off the sync queue (failing after ``timeout``), then check none is left."""
    taken = vhost.take_json(SYNC_QUEUE, count, timeout=timeout)
    assert vhost.depth(SYNC_QUEUE) == 0, "more messages than expected"
    return taken


def envelopes(messages: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The task argument of each message."""
    return [task_argument(body) for _, body in messages]


def sent_event_ids(messages) -> list[str]:
    return [e["event_id"] for env in envelopes(messages) for e in env["events"]]


def pending_ids() -> list[str]:
    return [str(e) for e in OutboxEvent.objects.filter(published_at__isnull=True).values_list("event_id", flat=True)]


@pytest.mark.timeout(60)
def test_a_round_publishes_pending_events_and_marks_them(broker_vhost, publisher, config) -> None:
    products = [make_product(), make_product(), make_product()]
    expected = [str(e.event_id) for e in OutboxEvent.objects.order_by("id")]

    result = relay_round(publisher, config)

    assert (result.claimed, result.published, result.failed) == (3, 3, 0)
    rows = list(OutboxEvent.objects.order_by("id"))
    assert all(r.published_at is not None for r in rows)
    assert all((r.last_error, r.next_attempt_at) == ("", None) for r in rows)
    messages = take_messages(broker_vhost, 1)
    assert sent_event_ids(messages) == expected
    states = dict(products_with_sync_state().values_list("pk", "sync_state"))
    assert states == {p.pk: "published" for p in products}


@pytest.mark.timeout(60)
def test_nothing_is_sent_twice(broker_vhost, publisher, config) -> None:
    make_product()
    relay_round(publisher, config)

    again = relay_round(publisher, config)

    assert (again.claimed, again.published) == (0, 0)
    assert len(take_messages(broker_vhost, 1)) == 1


@pytest.mark.timeout(60)
def test_the_message_is_a_json_celery_task_carrying_a_valid_envelope(broker_vhost, publisher, config) -> None:
    product = make_product(title="On the wire")
    product_update(product_id=product.pk, data={"title": "v2"})
    product_delete(product_id=product.pk)

    relay_round(publisher, config)

    ((properties, body),) = take_messages(broker_vhost, 1)
    assert properties.content_type == "application/json"
    assert properties.content_encoding == "utf-8"
    assert properties.delivery_mode == 2  # persistent: survives a broker restart
    assert properties.headers["task"] == TASK_SYNC_PRODUCTS
    assert properties.headers["id"]
    # Celery's protocol 2 body: (args, kwargs, embed), written around the relay's
    # encoded envelope (sync.publisher.EnvelopeProducer) as Celery's json would.
    args, kwargs, embed = body
    assert (len(args), kwargs) == (1, {})
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    envelope = body[0][0]
    events = validate_envelope(envelope)
    assert [(e.product_id, e.version, e.op, e.title) for e in events] == [
        (product.pk, 1, "upsert", "On the wire"),
        (product.pk, 2, "upsert", "v2"),
        (product.pk, 3, "delete", "v2"),
    ]
    assert [e.event_id for e in events] == [str(e.event_id) for e in OutboxEvent.objects.order_by("id")]


@pytest.mark.timeout(60)
def test_a_single_event_goes_out_as_a_message_of_one(broker_vhost, publisher, config) -> None:
    make_product()

    relay_round(publisher, config)

    (envelope,) = envelopes(take_messages(broker_vhost, 1))
    assert len(envelope["events"]) == 1


@pytest.mark.timeout(90)
@pytest.mark.parametrize("count", [9, 12])
def test_a_backlog_goes_out_in_batches_each_event_exactly_once(broker_vhost, publisher, settings, count: int) -> None:
    settings.RELAY_BATCH_SIZE = 4
    config = RelayConfig.from_settings()
    for _ in range(count):
        make_product()
    expected = [str(e.event_id) for e in OutboxEvent.objects.order_by("id")]

    result = relay_round(publisher, config)

    assert (result.claimed, result.published) == (count, count)
    messages = take_messages(broker_vhost, math.ceil(count / 4))
    assert [len(env["events"]) for env in envelopes(messages)] == [
        min(4, count - start) for start in range(0, count, 4)
    ]
    assert sent_event_ids(messages) == expected  # each once, in commit order
    assert pending_ids() == []


@pytest.mark.timeout(90)
def test_a_backlog_bigger_than_one_claim_drains_over_rounds(broker_vhost, publisher, settings) -> None:
    settings.RELAY_BATCH_SIZE = 3
    settings.RELAY_CLAIM_SIZE = 5
    config = RelayConfig.from_settings()
    for _ in range(12):
        make_product()
    expected = [str(e.event_id) for e in OutboxEvent.objects.order_by("id")]

    claimed = [relay_round(publisher, config).claimed for _ in range(4)]

    assert claimed == [5, 5, 2, 0]
    messages = take_messages(broker_vhost, 5)  # per round: 3 + 2, 3 + 2, 2
    assert sent_event_ids(messages) == expected


@pytest.mark.timeout(60)
def test_rows_backed_off_into_the_future_are_not_claimed(broker_vhost, publisher, config) -> None:
    waiting, due, fresh = make_product(), make_product(), make_product()
    OutboxEvent.objects.filter(product_id=waiting.pk).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    OutboxEvent.objects.filter(product_id=due.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    result = relay_round(publisher, config)

    assert result.claimed == 2
    sent = {e["product_id"] for env in envelopes(take_messages(broker_vhost, 1)) for e in env["events"]}
    assert sent == {due.pk, fresh.pk}
    assert OutboxEvent.objects.get(product_id=waiting.pk).published_at is None


@pytest.mark.timeout(60)
def test_rows_locked_by_another_relay_are_skipped(broker_vhost, publisher, config) -> None:
    locked, free = make_product(), make_product()
    other_relay = psycopg2.connect(**connection.get_connection_params())
    try:
        with other_relay.cursor() as cursor:  # psycopg2 opens a transaction: the lock is held until rollback
            cursor.execute("SELECT id FROM products_outboxevent WHERE product_id = %s FOR UPDATE", [locked.pk])

        result = relay_round(publisher, config)

        assert result.claimed == 1
        sent = [e["product_id"] for env in envelopes(take_messages(broker_vhost, 1)) for e in env["events"]]
        assert sent == [free.pk]
    finally:
        other_relay.rollback()
        other_relay.close()

    assert relay_round(publisher, config).published == 1
    sent = [e["product_id"] for env in envelopes(take_messages(broker_vhost, 1)) for e in env["events"]]
    assert sent == [locked.pk]


@pytest.mark.timeout(60)
def test_a_failover_list_skips_a_dead_node_and_starts_from_the_live_one_next_time(
    vhost: Vhost, point_celery_at: PointAt, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # As compose lists the cluster's nodes: the first one is gone, the second answers.
    app = point_celery_at(f"{REFUSING_URL};{vhost.url}")
    monkeypatch.setattr(publisher_module, "_LIVE_NODE", {})
    first = publisher_module._connect(app, settings.RELAY_PUBLISH_TIMEOUT)
    try:
        assert first.as_uri(include_password=True) == vhost.url
    finally:
        first.release()
    # The next connection (a reconnect) tries the node that answered, then the other one.
    again = publisher_module._connect(app, settings.RELAY_PUBLISH_TIMEOUT)
    try:
        assert again.alt == [vhost.url, REFUSING_URL]
        assert again.as_uri(include_password=True) == vhost.url
    finally:
        again.release()
    assert publisher_module.broker_urls(app) == [REFUSING_URL, vhost.url]


def test_a_refused_connection_fails_fast_and_backs_off(refusing_publisher, settings) -> None:
    settings.RELAY_BACKOFF_BASE = 1.0
    settings.RELAY_BACKOFF_MAX = 60.0
    config = RelayConfig.from_settings()
    make_product()
    make_product()
    before = timezone.now()
    started = time.monotonic()

    result = relay_round(refusing_publisher, config)

    elapsed = time.monotonic() - started
    after = timezone.now()
    assert elapsed < settings.RELAY_PUBLISH_TIMEOUT + 5.0
    assert (result.claimed, result.published, result.failed) == (2, 0, 2)
    for row in OutboxEvent.objects.all():
        assert row.published_at is None
        assert row.attempts == 1
        assert "refused" in row.last_error.lower()
        # First failure: a delay of base * 2**0, jittered into [delay/2, delay], counted from the failure.
        assert after < row.next_attempt_at
        assert before + timedelta(seconds=0.5) <= row.next_attempt_at <= after + timedelta(seconds=1.0)
    # Backed off: the next round claims nothing yet.
    assert relay_round(refusing_publisher, config).claimed == 0
    state = products_with_sync_state().values_list("sync_state", "sync_error")
    assert {s for s, _ in state} == {"failed"}
    assert all("refused" in e.lower() for _, e in state)


@pytest.mark.timeout(60)
def test_the_backoff_grows_and_is_capped(refusing_publisher, settings) -> None:
    settings.RELAY_BACKOFF_BASE = 2.0
    settings.RELAY_BACKOFF_MAX = 20.0
    settings.RELAY_RECONNECT_MAX = 20.0
    config = RelayConfig.from_settings()
    third, capped = make_product(), make_product()
    OutboxEvent.objects.filter(product_id=third.pk).update(attempts=2)  # delay 2 * 2**2 = 8
    OutboxEvent.objects.filter(product_id=capped.pk).update(attempts=30)  # 2 * 2**30, capped at 20
    before = timezone.now()

    relay_round(refusing_publisher, config)

    after = timezone.now()
    for product, attempts, delay in ((third, 3, 8.0), (capped, 31, 20.0)):
        row = OutboxEvent.objects.get(product_id=product.pk)
        assert row.attempts == attempts
        assert before + timedelta(seconds=delay / 2) <= row.next_attempt_at <= after + timedelta(seconds=delay)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("broker", ["unreachable", "returns the message"])
def test_an_unreachable_broker_is_tried_again_within_the_reconnect_cap_a_refusal_later(
    broker, settings, request
) -> None:
    settings.RELAY_BACKOFF_BASE = 2.0
    settings.RELAY_BACKOFF_MAX = 60.0
    settings.RELAY_RECONNECT_MAX = 3.0
    config = RelayConfig.from_settings()
    make_product()
    OutboxEvent.objects.update(attempts=30)  # 2 * 2**30 s: at the cap
    if broker == "unreachable":
        publisher = request.getfixturevalue("refusing_publisher")
    else:
        publisher = request.getfixturevalue("publisher")
        with request.getfixturevalue("broker_vhost").channel() as channel:
            channel.queue_delete(queue=SYNC_QUEUE)  # nothing to route to: the broker returns it
    before = timezone.now()

    result = relay_round(publisher, config)

    after = timezone.now()
    assert result.failed == 1
    cap = settings.RELAY_RECONNECT_MAX if broker == "unreachable" else settings.RELAY_BACKOFF_MAX
    row = OutboxEvent.objects.get()
    assert before + timedelta(seconds=cap / 2) <= row.next_attempt_at <= after + timedelta(seconds=cap)


@pytest.mark.timeout(90)
def test_after_the_broker_is_back_failed_rows_are_published(
    broker_vhost, refusing_publisher, point_celery_at, settings, config
) -> None:
    make_product()
    relay_round(refusing_publisher, config)
    OutboxEvent.objects.update(next_attempt_at=timezone.now())  # due now instead of after the backoff
    working = Publisher(point_celery_at(broker_vhost.url), timeout=settings.RELAY_PUBLISH_TIMEOUT)
    try:
        result = relay_round(working, config)
    finally:
        working.close()

    assert result.published == 1
    row = OutboxEvent.objects.get()
    assert row.published_at is not None
    assert (row.last_error, row.next_attempt_at, row.attempts) == ("", None, 1)
    assert len(take_messages(broker_vhost, 1)) == 1


@pytest.mark.timeout(60)
def test_prune_deletes_only_published_rows_older_than_the_retention(monkeypatch) -> None:
    monkeypatch.setattr("sync.prune.PRUNE_CHUNK", 2)  # exercise the chunk loop with a few rows
    for _ in range(7):
        make_product()
    ids = list(OutboxEvent.objects.order_by("id").values_list("id", flat=True))
    now = timezone.now()
    old, recent, pending_old = ids[:5], ids[5:6], ids[6:]
    OutboxEvent.objects.filter(id__in=old).update(published_at=now - timedelta(hours=25))
    OutboxEvent.objects.filter(id__in=recent).update(published_at=now - timedelta(hours=23))
    OutboxEvent.objects.filter(id__in=pending_old).update(occurred_at=now - timedelta(days=30))

    deleted = prune_published(retention_seconds=24 * 3600)

    assert deleted == 5
    assert sorted(OutboxEvent.objects.values_list("id", flat=True)) == recent + pending_old


@pytest.mark.timeout(60)
def test_a_prune_stops_after_its_chunks_so_the_relay_never_stalls_on_a_large_backlog(monkeypatch) -> None:
    monkeypatch.setattr("sync.prune.PRUNE_CHUNK", 2)
    for _ in range(7):
        make_product()
    OutboxEvent.objects.update(published_at=timezone.now() - timedelta(hours=25))

    assert prune_published(retention_seconds=24 * 3600, max_chunks=2) == 4
    assert OutboxEvent.objects.count() == 3
    assert prune_published(retention_seconds=24 * 3600, max_chunks=2) == 3
    assert not OutboxEvent.objects.exists()


@pytest.mark.timeout(60)
def test_the_relay_loop_wakes_on_notify_not_on_its_poll_interval(broker_vhost, publisher, run_relay) -> None:
    config = dataclasses.replace(RelayConfig.from_settings(), poll_interval=60.0)
    first = make_product()
    with run_relay(publisher, config):
        # The first round picks up what was already committed; then the relay sleeps on LISTEN.
        wait_until(lambda: not pending_ids(), timeout=15, what="the first round")
        second = make_product()
        started = time.monotonic()

        wait_until(lambda: not pending_ids(), timeout=15, what="the NOTIFY to wake the relay")

        assert time.monotonic() - started < config.poll_interval / 2
    sent = [e["product_id"] for env in envelopes(take_messages(broker_vhost, 2)) for e in env["events"]]
    assert sent == [first.pk, second.pk]


def promise_held() -> bool:
    with connection.cursor() as cursor:  # a bigint advisory key: its low 32 bits in objid
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
            [RELAY_PROMISE_LOCK],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.timeout(60)
def test_a_relay_that_published_promises_the_next_round_and_gives_the_promise_up_once_nothing_is_left(
    broker_vhost, publisher, run_relay
) -> None:
    config = dataclasses.replace(RelayConfig.from_settings(), poll_interval=60.0, linger=0.0, round_interval=0.5)
    with run_relay(publisher, config):
        make_product()
        wait_until(promise_held, timeout=15, what="the promise, after a round that published")
        wait_until(lambda: not promise_held(), timeout=15, what="the promise given up, nothing left to claim")
        late = make_product()  # its commit NOTIFYs again

        wait_until(lambda: not pending_ids(), timeout=15, what="the late change to go out")
    assert OutboxEvent.objects.get(product_id=late.pk).published_at is not None


def _published_at(product_id: int):
    return OutboxEvent.objects.get(product_id=product_id).published_at


def _import(prefix: str, count: int) -> None:
    product_import(rows=[{"sku": f"{prefix}-{i}", "title": "t", "price": "1"} for i in range(count)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("burst", [True, False])
def test_after_a_burst_the_relay_lingers_before_claiming_again_and_a_single_edit_does_not(
    broker_vhost,
    publisher,
    run_relay,
    burst: bool,
) -> None:
    linger = 1.0
    config = dataclasses.replace(RelayConfig.from_settings(), poll_interval=60.0, linger=linger)
    _import("first", BURST_EVENTS if burst else 1)
    with run_relay(publisher, config):
        wait_until(lambda: not pending_ids(), timeout=15, what="the first round")
        first_round = OutboxEvent.objects.order_by("published_at").last().published_at
        late = make_product()  # committed while the relay lingers (after a burst) or sleeps on LISTEN

        wait_until(lambda: not pending_ids(), timeout=15, what="the late change to go out")
    waited = (_published_at(late.pk) - first_round).total_seconds()
    if burst:
        assert waited >= 0.9 * linger  # not claimed before the pause was over
    else:
        assert waited < 0.9 * linger  # woken by its NOTIFY: a single edit is never held back


@pytest.mark.timeout(60)
def test_edits_that_follow_a_published_round_within_the_interval_share_the_next_message(
    broker_vhost, publisher, run_relay
) -> None:
    interval = 1.0
    config = dataclasses.replace(RelayConfig.from_settings(), poll_interval=60.0, linger=0.0, round_interval=interval)
    with run_relay(publisher, config):
        first = make_product()
        wait_until(lambda: not pending_ids(), timeout=15, what="the first edit to go out")
        second, third = make_product(), make_product()  # each commit NOTIFYs the relay

        wait_until(lambda: not pending_ids(), timeout=15, what="the next two edits to go out")
    sent = [[e["product_id"] for e in env["events"]] for env in envelopes(take_messages(broker_vhost, 2))]
    assert sent == [[first.pk], [second.pk, third.pk]]
    waited = (_published_at(second.pk) - _published_at(first.pk)).total_seconds()
    assert waited >= 0.9 * interval


@pytest.mark.timeout(60)
def test_while_messages_wait_in_the_queue_rounds_go_further_apart_and_carry_more(
    broker_vhost, publisher, run_relay
) -> None:
    interval = 1.0
    config = dataclasses.replace(
        RelayConfig.from_settings(),
        poll_interval=60.0,
        linger=0.0,
        round_interval=0.0,
        backlog_interval=interval,
        backlog_messages=3,
    )
    _import("waiting", 3)
    relay_round(publisher, dataclasses.replace(config, batch_size=1))  # three messages nobody consumes
    with run_relay(publisher, config):
        first = make_product()
        wait_until(lambda: not pending_ids(), timeout=15, what="the first edit to go out")
        second, third = make_product(), make_product()  # each commit NOTIFYs the relay

        wait_until(lambda: not pending_ids(), timeout=15, what="the next two edits to go out")
    sent = [[e["product_id"] for e in env["events"]] for env in envelopes(take_messages(broker_vhost, 5))[3:]]
    assert sent == [[first.pk], [second.pk, third.pk]]
    waited = (_published_at(second.pk) - _published_at(first.pk)).total_seconds()
    assert waited >= 0.9 * interval


# --- the task-sent event, and what a round's commit waits for -----------------------------------


@pytest.mark.timeout(60)
def test_task_sent_events_go_out_together_unconfirmed_and_name_their_tasks(broker_vhost, publisher, config) -> None:
    with broker_vhost.channel() as channel:
        channel.exchange_declare("celeryev", exchange_type="topic", durable=True)
        watch = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(watch, "celeryev", routing_key="task.#")
        for _ in range(3):  # three rounds, one message each, well within one interval
            make_product()
            relay_round(publisher, config)
        take_messages(broker_vhost, 3)
        assert publisher.events_due_in() is not None  # buffered, not sent yet

        publisher.flush_events()

        bodies: list = []

        def got_events() -> bool:
            method, _, raw = channel.basic_get(watch, auto_ack=True)
            if method is not None:
                bodies.append((method.routing_key, json.loads(raw)))
            return bool(bodies)

        wait_until(got_events, timeout=10, what="task-sent events")
    [(routing_key, events)] = bodies  # one message for the three
    assert routing_key == "task.multi"
    assert [e["type"] for e in events] == ["task-sent"] * 3
    assert {e["name"] for e in events} == {TASK_SYNC_PRODUCTS}
    assert {e["queue"] for e in events} == {SYNC_QUEUE}
    assert publisher.events_due_in() is None
    # Their own connection, without confirms; the tasks' connection keeps them.
    assert publisher._sent_events._connection.connection.confirm_publish is False
    assert publisher._connection.connection.confirm_publish is True


@pytest.mark.timeout(60)
def test_a_broken_event_connection_costs_the_events_only(broker_vhost, publisher, config) -> None:
    make_product()
    relay_round(publisher, config)
    publisher.flush_events()
    take_messages(broker_vhost, 1)
    # The event connection dies; the next round still publishes and marks its change.
    publisher._sent_events._connection.collect()
    second = make_product()

    result = relay_round(publisher, config)
    publisher.flush_events()

    assert (result.published, result.failed) == (1, 0)
    assert sent_event_ids(take_messages(broker_vhost, 1)) == [
        str(OutboxEvent.objects.get(product_id=second.pk).event_id)
    ]
    assert pending_ids() == []
    assert publisher.events_due_in() is None


def test_a_round_commits_without_waiting_for_its_wal_flush(broker_vhost, publisher, config) -> None:
    # A statement trigger on the outbox reports the setting the round's marking runs under.
    make_product()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE relay_commit_probe (setting text)")
        cursor.execute(
            "CREATE FUNCTION relay_commit_probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO relay_commit_probe VALUES (current_setting('synchronous_commit')); RETURN NULL; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER relay_commit_probe AFTER UPDATE ON products_outboxevent"
            " FOR EACH STATEMENT EXECUTE FUNCTION relay_commit_probe()"
        )
    try:
        assert relay_round(publisher, config).published == 1
        take_messages(broker_vhost, 1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT setting FROM relay_commit_probe")
            assert [row[0] for row in cursor.fetchall()] == ["off"]
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"  # only that transaction: the session keeps the default
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER relay_commit_probe ON products_outboxevent")
            cursor.execute("DROP FUNCTION relay_commit_probe()")
            cursor.execute("DROP TABLE relay_commit_probe")


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_claim_reads_only_the_rows_it_takes_whatever_the_statistics() -> None:
    # Statistics of an empty outbox, then a 20,000-event backlog (a bulk import before
    # autovacuum's next ANALYZE): the claim of 500 must still read 500 pending rows.
    from sync.sql import CLAIM_SQL

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE products_outboxevent")
        cursor.execute(
            "INSERT INTO products_outboxevent (event_id, product_id, version, op, data, occurred_at, attempts,"
            " last_error) SELECT gen_random_uuid(), g, 1, 'upsert', '{}'::jsonb, now(), 0, ''"
            " FROM generate_series(1, 20000) AS g"
        )
    *session_settings, claim = [part for part in CLAIM_SQL.split(";") if part.strip()]
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in session_settings:
            cursor.execute(statement)
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + claim, {"limit": 500})
        [root] = cursor.fetchone()[0]
        transaction.set_rollback(True)  # EXPLAIN ANALYZE ran the update: keep nothing of it

    nodes = list(_plan_nodes(root["Plan"]))
    assert root["Plan"]["Actual Rows"] == 500
    # No step of the plan touched more rows than the claim takes, and nothing is sorted:
    # the oldest 500 come straight off the pending index, in order.
    assert {n["Node Type"]: n["Actual Rows"] for n in nodes if n["Actual Rows"] > 500} == {}
    assert [n["Node Type"] for n in nodes if n["Node Type"] in ("Sort", "Seq Scan")] == []
    assert [n["Actual Rows"] for n in nodes if n.get("Index Name") == "outbox_pending"] == [500]
