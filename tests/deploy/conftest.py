import pytest

from tests.deploy.brokers import ComposeLikeCluster


@pytest.fixture
def broker_cluster():
    """Three throw-away nodes joined into one cluster, provisioned like the compose brokers."""
    cluster = ComposeLikeCluster(size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def single_broker():
    """One throw-away node as the compose `rabbitmq` service runs it without the cluster profile."""
    broker = ComposeLikeCluster(size=1)
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()


@pytest.fixture
def make_deploy_stack(make_stack):
    """``make_deploy_stack(broker, vhost)``: a stack whose databases docker/start/migrate creates."""

    def make(broker, vhost):
        return make_stack(broker, vhost=vhost, migrated=False)

    return make
