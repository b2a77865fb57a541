"""Publishers on the test module's vhost (or on a broker that refuses), and the relay loop in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from celery import Celery

from sync.publisher import Publisher
from sync.relay import Relay, RelayConfig
from testkit.broker import Vhost

logging.getLogger("pika").setLevel(logging.WARNING)  # pika logs every socket step at INFO


def _publisher(app: Celery, settings) -> Iterator[Publisher]:
    publisher = Publisher(app, timeout=settings.RELAY_PUBLISH_TIMEOUT)
    yield publisher
    publisher.close()


@pytest.fixture
def publisher(broker_vhost: Vhost, celery_app: Celery, settings) -> Iterator[Publisher]:
    """The relay's publisher on the module's vhost (its sync queue empty)."""
    yield from _publisher(celery_app, settings)


@pytest.fixture
def refusing_publisher(broker_down: Celery, settings) -> Iterator[Publisher]:
    """The relay's publisher on a broker that refuses every connection."""
    yield from _publisher(broker_down, settings)


@pytest.fixture
def config(settings) -> RelayConfig:
    return RelayConfig.from_settings()


@pytest.fixture
def run_relay() -> Callable[..., AbstractContextManager[Relay]]:
    """``with run_relay(publisher[, config]) as relay:`` the relay loop in a thread, stopped on leaving."""

    @contextmanager
    def run(publisher: Publisher, config: RelayConfig | None = None) -> Iterator[Relay]:
        relay = Relay(publisher, config or RelayConfig.from_settings())
        thread = threading.Thread(target=relay.run, name="relay")
        thread.start()
        try:
            yield relay
        finally:
            relay.stop()
            thread.join(timeout=15)
        assert not thread.is_alive()

    return run
