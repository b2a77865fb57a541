"""The relay's status row, the broker banner on every admin page, and the relay's batch log line."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from products.models import OutboxEvent
from products.tests.factories import make_product
from sync.models import RelayStatus
from sync.relay import ClaimedEvent, RoundResult, log_published
from sync.relay_status import RelayStatusRecorder, publishing_problem
from testkit.waiting import wait_until

FAILED = RoundResult(claimed=3, published=0, failed=3, error="OperationalError: [Errno 111] Connection refused")
OK = RoundResult(claimed=3, published=3)
IDLE = RoundResult()


@pytest.mark.django_db
def test_the_status_is_written_on_each_change_and_otherwise_throttled() -> None:
    recorder = RelayStatusRecorder(interval=3600, relay_id="host:1")
    recorder.record_round(OK)  # first round: written
    first = RelayStatus.objects.get().last_seen_at
    recorder.record_round(OK)
    recorder.record_round(IDLE)
    assert RelayStatus.objects.get().last_seen_at == first  # no change, within the interval: no write

    recorder.record_round(FAILED)  # ok -> failing: written at once
    row = RelayStatus.objects.get()
    assert (row.consecutive_failures, row.failing) == (1, True)
    assert "Connection refused" in row.last_error
    recorder.record_round(FAILED)
    recorder.record_round(IDLE)  # nothing claimed (backing off): says nothing about the broker
    assert RelayStatus.objects.get().consecutive_failures == 1  # throttled

    recorder.record_round(OK)  # failing -> ok: written at once
    row = RelayStatus.objects.get()
    assert (row.consecutive_failures, row.last_error) == (0, "")
    assert row.last_success_at is not None


@pytest.mark.django_db
def test_the_heartbeat_is_written_after_the_interval() -> None:
    recorder = RelayStatusRecorder(interval=0.0, relay_id="host:2")
    recorder.record_round(IDLE)
    first = RelayStatus.objects.get().last_seen_at
    recorder.record_round(IDLE)
    assert RelayStatus.objects.get().last_seen_at > first


@pytest.mark.django_db
def test_the_banner_shows_on_every_admin_page_while_publishing_fails(admin_client, client) -> None:
    recorder = RelayStatusRecorder(relay_id="host:3")
    recorder.record_round(FAILED)

    for url in ("/admin/", "/admin/products/product/", "/admin/products/product/add/"):
        html = admin_client.get(url).content.decode()
        assert 'id="sync-banner"' in html, url
        assert "The broker cannot be reached" in html
        assert "Your edits are saved and will go out" in html
        assert "Connection refused" in html
    assert 'id="sync-banner"' not in client.get("/admin/login/").content.decode()  # not to anonymous users

    recorder.record_round(OK)
    assert 'id="sync-banner"' not in admin_client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_one_working_relay_is_enough_and_gone_relays_do_not_count(settings) -> None:
    RelayStatusRecorder(relay_id="a:1").record_round(FAILED)
    ok = RelayStatusRecorder(relay_id="b:2")
    ok.record_round(OK)
    assert publishing_problem() is None
    ok.stopped()
    assert publishing_problem()["kind"] == "broker"
    RelayStatus.objects.update(last_seen_at=timezone.now() - timedelta(seconds=settings.RELAY_STATUS_STALE + 1))
    assert publishing_problem() is None  # no live relay, and nothing waits


@pytest.mark.django_db
def test_the_banner_says_so_when_no_relay_runs_and_changes_wait(admin_client, settings) -> None:
    make_product()
    assert publishing_problem() is None  # a fresh change: a relay may just not have picked it up
    OutboxEvent.objects.update(occurred_at=timezone.now() - timedelta(seconds=settings.RELAY_STATUS_STALE + 5))
    html = admin_client.get("/admin/").content.decode()
    assert "No outbox relay is running" in html


def status_row(**lookup) -> RelayStatus:
    """The relay's status row, once the running relay has written one matching ``lookup``."""
    return wait_until(lambda: RelayStatus.objects.filter(**lookup).first(), timeout=20, what=f"a status with {lookup}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_the_relay_loop_records_failure_then_its_stop(refusing_publisher, run_relay) -> None:
    make_product()
    with run_relay(refusing_publisher):
        row = status_row(consecutive_failures__gt=0)
        assert row.last_error
        assert row.stopped_at is None
        assert publishing_problem()["kind"] == "broker"
    assert RelayStatus.objects.get().stopped_at is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_the_relay_loop_records_success(publisher, run_relay) -> None:
    make_product()
    with run_relay(publisher):
        row = status_row(last_success_at__isnull=False)
        assert row.consecutive_failures == 0


def test_a_batch_is_logged_in_one_line_with_product_versions(caplog) -> None:
    chunk = [
        ClaimedEvent(outbox_id=i, event_id=f"ev-{i}", product_id=100 + i, version=2, op="upsert", wire="{}")
        for i in range(25)
    ]
    with caplog.at_level(logging.INFO, logger="sync.relay"):
        log_published(chunk, "task-1")
    (record,) = caplog.records
    assert "published 25 events in one message task_id=task-1" in record.message
    assert "products=100:2,101:2," in record.message
    assert "(+5 more)" in record.message

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="sync.relay"):
        log_published(chunk[:2], "task-2")
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert "event_id=ev-1 product_id=101 version=2" in caplog.records[-1].message
