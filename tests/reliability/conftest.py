import json
from collections.abc import Iterator

import pytest

from testkit import broker as rabbit
from testkit.pgcluster import ThrowawayPostgres
from tests.reliability.figures import FAST_RECOVERY
from tests.reliability.scenarios import ROWS_FILE, table

# Rows of this session only (a conftest below the root is loaded at collection, after
# pytest_sessionstart would have run).
ROWS_FILE.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def module_broker() -> Iterator[rabbit.ThrowawayBroker]:
    """One throw-away RabbitMQ node for the broker faults of a module (each scenario its own vhost)."""
    with rabbit.throwaway_broker() as broker:
        yield broker


@pytest.fixture
def reliability_stack(make_stack):
    """Stacks with the settings of quick recovery (FAST_RECOVERY), optionally with a database on a
    throw-away PostgreSQL cluster of its own (destroyed after the stack)."""

    def make(*, broker=None, admin_pg=False, catalog_pg=False):
        clusters = {}
        for side, wanted in (("admin_pg", admin_pg), ("catalog_pg", catalog_pg)):
            if wanted:
                cluster = ThrowawayPostgres()
                make_stack.after_close(cluster.destroy)
                cluster.start()
                clusters[side] = cluster
        return make_stack(broker, env=FAST_RECOVERY, **clusters)

    return make


def pytest_terminal_summary(terminalreporter):
    if ROWS_FILE.exists():
        rows = [json.loads(line) for line in ROWS_FILE.read_text().splitlines() if line.strip()]
        terminalreporter.write_sep("=", "reliability figures")
        terminalreporter.write_line(table(rows))
