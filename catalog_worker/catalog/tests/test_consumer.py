"""catalog.consumer: the worker's event loop and connections, on kombu's real Hub and the real broker."""

from __future__ import annotations

import functools
import socket
import time

from kombu.asynchronous import Hub

from catalog.consumer import SyncConsumer, wake_if_ready


def delay_of_a_callback_queued_during_a_ready_pass(*, with_wake: bool) -> float:
    """How long a callback queued by another ``call_soon`` callback waits before it runs."""
    hub = Hub()
    idle_reader, idle_writer = socket.socketpair()  # the loop polls only while it watches a descriptor
    hub.add_reader(idle_reader, lambda: None)
    if with_wake:
        hub.on_tick.add(functools.partial(wake_if_ready, hub))
    ran: list[float] = []
    # As in the worker: a read that ran in the ready pass queued the task's ack.
    hub.call_soon(lambda: hub.call_soon(lambda: ran.append(time.monotonic())))
    loop = hub.create_loop()
    started = time.monotonic()
    try:
        while not ran and time.monotonic() - started < 5:
            next(loop)
    finally:
        hub.close()
        idle_reader.close()
        idle_writer.close()
    assert ran, "the callback never ran"
    return ran[0] - started


def test_a_callback_queued_during_a_ready_pass_runs_at_once() -> None:
    assert delay_of_a_callback_queued_during_a_ready_pass(with_wake=True) < 0.2


def test_without_the_wake_up_kombu_sleeps_a_whole_poll_before_running_it() -> None:
    # Why wake_if_ready exists: kombu polls with the timers' timeout (1 s here) although
    # a callback is ready. If this starts to fail, kombu fixed it and the wake-up can go.
    assert delay_of_a_callback_queued_during_a_ready_pass(with_wake=False) >= 0.9


def test_the_event_dispatcher_connection_publishes_without_confirms(celery_app) -> None:
    class ConsumerStandIn:  # what SyncConsumer.connection_for_write uses of a consumer
        def __init__(self) -> None:
            self.app = celery_app

        def ensure_connected(self, connection):
            connection.ensure_connection(max_retries=1)
            return connection

    events = SyncConsumer.connection_for_write(ConsumerStandIn())
    tasks = celery_app.connection_for_write()
    try:
        tasks.ensure_connection(max_retries=1)
        assert tasks.connection.confirm_publish is True  # the shared setting, for task messages
        assert events.connection.confirm_publish is False
        channel = events.default_channel
        assert channel.basic_publish != channel.basic_publish_confirm
    finally:
        events.release()
        tasks.release()


def test_register_with_event_loop_adds_one_wake_up_however_often_it_is_called() -> None:
    hub = Hub()
    consumer = SyncConsumer.__new__(SyncConsumer)  # only the hook under test, not a whole worker
    consumer.blueprint = type("NoSteps", (), {"send_all": staticmethod(lambda *a, **k: None)})()
    try:
        for _ in range(3):  # the worker calls it again on every reconnection
            SyncConsumer.register_with_event_loop(consumer, hub)
        assert len(hub.on_tick) == 1
    finally:
        hub.close()


def test_buffered_task_events_are_flushed_together_once_per_interval() -> None:
    from catalog.consumer import EVENT_FLUSH_INTERVAL

    hub = Hub()
    idle_reader, idle_writer = socket.socketpair()
    hub.add_reader(idle_reader, lambda: None)
    flushes: list[float] = []
    consumer = SyncConsumer.__new__(SyncConsumer)  # only the hooks under test, not a whole worker
    consumer.hub = hub
    consumer._flush_events = lambda: flushes.append(time.monotonic())
    loop = hub.create_loop()
    started = time.monotonic()
    try:
        for _ in range(50):  # fifty events in a burst: one flush, one interval later
            consumer.on_send_event_buffered()
        while not flushes and time.monotonic() - started < 5:
            next(loop)
        consumer.on_send_event_buffered()  # the next event schedules the next flush
        while len(flushes) < 2 and time.monotonic() - started < 5:
            next(loop)
    finally:
        hub.close()
        idle_reader.close()
        idle_writer.close()
    assert len(flushes) == 2
    assert EVENT_FLUSH_INTERVAL * 0.9 <= flushes[0] - started < EVENT_FLUSH_INTERVAL + 0.5
    assert flushes[1] - flushes[0] >= EVENT_FLUSH_INTERVAL * 0.9


def test_events_buffered_at_shutdown_are_flushed_before_the_dispatcher_closes() -> None:
    calls: list[str] = []
    consumer = SyncConsumer.__new__(SyncConsumer)  # only the hook under test, not a whole worker
    consumer._flush_events = lambda: calls.append("flush")
    consumer._pending_operations = []
    consumer.hub = None
    consumer.blueprint = type("Steps", (), {"shutdown": staticmethod(lambda parent: calls.append("close"))})()

    SyncConsumer.shutdown(consumer)

    assert calls == ["flush", "close"]
