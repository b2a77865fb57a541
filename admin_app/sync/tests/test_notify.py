"""The outbox's NOTIFY: a committed product change wakes the relay's LISTEN channel, a rollback never;
not while a relay has promised another round, and giving the promise up waits for the writers that
skipped theirs."""

from __future__ import annotations

import psycopg2
import psycopg2.extensions
import pytest
from django.db import connection, transaction

from products import sql
from products.services import product_create
from products.tests.factories import Boom, product_data, roll_back_after
from sync.wakeup import NOTIFY_CHANNEL, OutboxWakeup
from testkit.waiting import wait_until


@pytest.fixture
def listener():
    """A separate connection to the test database, listening on the outbox channel."""
    conn = psycopg2.connect(**connection.get_connection_params())
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    with conn.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
    yield conn
    conn.close()


@pytest.fixture
def wakeup():
    """The relay's own connection, as the relay holds it."""
    wakeup = OutboxWakeup()
    wakeup.connect()
    yield wakeup
    wakeup.close()


def notifications(conn, *, count: int, timeout: float) -> list:
    """The notifications received, once at least ``count`` have arrived."""
    received = []

    def arrived() -> bool:
        conn.poll()
        received.extend(conn.notifies)
        conn.notifies.clear()
        return len(received) >= count

    wait_until(arrived, timeout=timeout, what=f"{count} notification(s) on {NOTIFY_CHANNEL}")
    return received


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_a_committed_change_notifies_the_relay_channel(listener) -> None:
    product_create(data=product_data())

    received = notifications(listener, count=1, timeout=10)

    assert [n.channel for n in received] == [NOTIFY_CHANNEL]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_the_notification_is_sent_at_commit_and_never_for_a_rollback(listener) -> None:
    with pytest.raises(Boom):
        roll_back_after(lambda: product_create(data=product_data()))

    with transaction.atomic():
        product_create(data=product_data())
        listener.poll()
        assert listener.notifies == []  # not before the commit
    received = notifications(listener, count=1, timeout=10)

    # Notifications arrive in commit order: had the rolled-back one been sent, it would be here first.
    assert len(received) == 1
    assert received[0].channel == NOTIFY_CHANNEL


def notifications_before_a_marker(listener, timeout: float = 10) -> list:
    """Every notification delivered before a marker sent now (they arrive in commit order)."""
    with listener.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, 'marker')", [NOTIFY_CHANNEL])
    received = []

    def marker_arrived() -> bool:
        listener.poll()
        received.extend(listener.notifies)
        listener.notifies.clear()
        return any(n.payload == "marker" for n in received)

    wait_until(marker_arrived, timeout=timeout, what="the marker notification")
    return [n for n in received if n.payload != "marker"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_no_notify_while_a_relay_promises_another_round_and_again_once_it_gave_the_promise_up(listener, wakeup) -> None:
    wakeup.promise()
    assert wakeup.promising
    product_create(data=product_data())
    assert notifications_before_a_marker(listener) == []

    wakeup.end_promise()
    product_create(data=product_data())
    assert len(notifications_before_a_marker(listener)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_one_relay_holds_the_promise_at_a_time(wakeup) -> None:
    other = OutboxWakeup()
    other.connect()
    try:
        wakeup.promise()
        other.promise()
        assert (wakeup.promising, other.promising) == (True, False)
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_the_promise_is_kept_while_a_writer_that_skipped_its_notify_is_in_its_transaction(listener, wakeup) -> None:
    wakeup.promise()
    writer = psycopg2.connect(**connection.get_connection_params())
    try:
        with writer.cursor() as cursor:  # a writer's transaction: its row written, not committed yet
            cursor.execute(sql.CREATE_SQL, {"image_url": "", **product_data(), "id": None, "version": 1, "now": "now"})

        # A claim now could not see the writer's row: the relay keeps the promise, without waiting,
        assert wakeup.end_promise() is False
        assert wakeup.promising
        # and another writer is not held up meanwhile (it skips its NOTIFY: the promise stands).
        product_create(data=product_data())
        assert notifications_before_a_marker(listener) == []

        writer.commit()
        assert wakeup.end_promise() is True  # the relay's next claim sees both rows
        assert not wakeup.promising
    finally:
        writer.close()
