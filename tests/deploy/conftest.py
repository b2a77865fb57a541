import re

import pytest

from tests.deploy.brokers import ComposeLikeCluster
from tests.deploy.stack import drop_stack_databases, new_stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.failed


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
def make_deploy_stack(request):
    """Stacks whose databases are created by docker/start/migrate; torn down after the test."""
    stacks = []
    test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:80]

    def make(broker, vhost):
        stack = new_stack(broker, vhost, test_name)
        stacks.append(stack)
        return stack

    yield make

    for stack in stacks:
        stack.stop_all()
        if _failed(request):
            for process in stack.processes:
                tail = "\n".join(process.log().splitlines()[-40:])
                print(f"\n----- {process.name} (last lines; full log {process.log_path}) -----\n{tail}")
        drop_stack_databases(stack)
