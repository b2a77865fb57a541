import contextlib
import json

import pytest

from tests.reliability.pgcluster import ThrowawayPostgres
from tests.reliability.scenarios import ROWS_FILE, table
from tests.reliability.stacks import build_stack, teardown_stack
from tests.system.conftest import db_templates, shared_broker  # noqa: F401 - fixtures reused
from tests.system.harness import ThrowawayBroker

# Rows of this session only (a conftest below the root is loaded at collection, after
# pytest_sessionstart would have run).
ROWS_FILE.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def module_broker():
    """One throw-away RabbitMQ node for the broker faults of a module (each scenario its own vhost)."""
    broker = ThrowawayBroker()
    broker.start()
    yield broker
    broker.destroy()


@pytest.fixture
def reliability_stack(request, db_templates, shared_broker):  # noqa: F811
    """Build stacks for this test (own databases, optionally on throw-away clusters, own vhost)."""
    built, clusters = [], []

    def make(*, broker=None, admin_pg=False, catalog_pg=False):
        pgs = {}
        for side, wanted in (("admin_pg", admin_pg), ("catalog_pg", catalog_pg)):
            if wanted:
                cluster = ThrowawayPostgres()
                clusters.append(cluster)
                cluster.start()
                pgs[side] = cluster
        stack = build_stack(
            request.node.name[:60].replace("[", "-").replace("]", "").replace(" ", "_"),
            broker or shared_broker,
            db_templates,
            **pgs,
        )
        built.append(stack)
        return stack

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for stack in built:
        with contextlib.suppress(Exception):
            if failed:
                for process in stack.processes:
                    tail = "\n".join(process.log().splitlines()[-30:])
                    print(f"\n----- {process.name} (last lines; full log {process.log_path}) -----\n{tail}")
        teardown_stack(stack)
    for cluster in clusters:
        cluster.destroy()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter):
    if ROWS_FILE.exists():
        rows = [json.loads(line) for line in ROWS_FILE.read_text().splitlines() if line.strip()]
        terminalreporter.write_sep("=", "reliability figures")
        terminalreporter.write_line(table(rows))
