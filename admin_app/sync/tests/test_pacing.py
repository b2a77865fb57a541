"""The relay paces its rounds only while the sync queue is not draining (sync.pacing)."""

from __future__ import annotations

import pytest

from products.tests.factories import make_product
from sync.pacing import QUEUE_CHECK_SECONDS, CatalogBacklog, not_draining
from sync.relay import relay_round
from sync_contract import SYNC_QUEUE
from sync_contract.broker import QueueDepth
from testkit.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("previous", "current", "behind"),
    [
        (None, QueueDepth(messages=25, consumers=0), True),  # nobody consumes
        (None, QueueDepth(messages=25, consumers=2), False),  # one reading: cannot tell
        (QueueDepth(messages=25, consumers=2), QueueDepth(messages=25, consumers=2), True),  # standing
        (QueueDepth(messages=21, consumers=2), QueueDepth(messages=30, consumers=2), True),  # growing
        (QueueDepth(messages=30, consumers=2), QueueDepth(messages=21, consumers=2), False),  # draining
        (QueueDepth(messages=5, consumers=2), QueueDepth(messages=40, consumers=2), False),  # a moment's lag
        (QueueDepth(messages=40, consumers=2), QueueDepth(messages=5, consumers=2), False),  # below the threshold
        (QueueDepth(messages=40, consumers=0), None, False),  # unknown: publish as usual
    ],
)
def test_only_a_queue_that_does_not_drain_counts_as_the_catalog_behind(previous, current, behind) -> None:
    assert not_draining(previous, current, threshold=20) is behind


@pytest.mark.timeout(60)
def test_the_verdict_follows_the_real_queue_a_consumer_draining_it_and_one_that_stalls(
    broker_vhost, publisher, config
) -> None:
    for _ in range(5):  # five messages in the sync queue, one each
        make_product()
        relay_round(publisher, config)
    backlog = CatalogBacklog(publisher.queue_depth, threshold=3, enabled=True)

    def reading(expected: bool) -> bool:
        # A new reading is taken at most every QUEUE_CHECK_SECONDS: wait for it to say so.
        return backlog.behind() is expected

    assert backlog.behind() is True  # five wait and nobody consumes them
    with broker_vhost.channel() as channel:
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(SYNC_QUEUE, on_message_callback=lambda *args: None)  # takes one, never acks
        wait_until(lambda: broker_vhost.depth(SYNC_QUEUE) == 4, timeout=10, what="one message delivered")

        wait_until(lambda: reading(False), timeout=10, what="a draining queue: not behind")  # 5 -> 4
        wait_until(lambda: reading(True), timeout=10, what="a stalled consumer: behind")  # 4 -> 4


@pytest.mark.timeout(60)
def test_a_reading_from_before_a_quiet_spell_is_not_compared_with_the_next(broker_vhost, publisher, config) -> None:
    for _ in range(5):
        make_product()
        relay_round(publisher, config)
    now = [0.0]
    backlog = CatalogBacklog(publisher.queue_depth, threshold=3, enabled=True, clock=lambda: now[0])
    with broker_vhost.channel() as channel:
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(SYNC_QUEUE, on_message_callback=lambda *args: None)  # takes one, never acks
        wait_until(lambda: broker_vhost.depth(SYNC_QUEUE) == 4, timeout=10, what="one message delivered")
        assert backlog.behind() is False  # one reading with a consumer: cannot tell
        now[0] += QUEUE_CHECK_SECONDS
        assert backlog.behind() is True  # 4 -> 4: stalled

        now[0] += 60  # a minute without a round that published
        assert backlog.behind() is False  # that old reading says nothing about the queue now
        now[0] += QUEUE_CHECK_SECONDS
        assert backlog.behind() is True


def test_pacing_switched_off_never_reads_the_queue() -> None:
    def read_depth() -> QueueDepth | None:
        raise AssertionError("read the queue")

    assert CatalogBacklog(read_depth, threshold=1, enabled=False).behind() is False
