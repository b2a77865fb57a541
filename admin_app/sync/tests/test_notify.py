"""The outbox's NOTIFY: a committed product change wakes the relay's LISTEN channel, a rollback never."""

from __future__ import annotations

import psycopg2
import psycopg2.extensions
import pytest
from django.db import connection, transaction

from products.services import product_create
from products.tests.factories import Boom, product_data, roll_back_after
from sync.relay import NOTIFY_CHANNEL
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
