from collections.abc import Iterator

import pytest

from tests.deploy.brokers import ComposeLikeCluster


def started(size: int) -> Iterator[ComposeLikeCluster]:
    cluster = ComposeLikeCluster(size=size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def broker_cluster() -> Iterator[ComposeLikeCluster]:
    """Three throw-away nodes joined into one cluster, provisioned like the compose brokers."""
    yield from started(3)


@pytest.fixture
def single_broker() -> Iterator[ComposeLikeCluster]:
    """One throw-away node as the compose `rabbitmq` service runs it without the cluster profile."""
    yield from started(1)


@pytest.fixture
def make_deploy_stack(make_stack):
    """``make_deploy_stack(broker, vhost)``: a stack whose databases docker/start/migrate creates."""

    def make(broker, vhost):
        return make_stack(broker, vhost=vhost, migrated=False)

    return make
