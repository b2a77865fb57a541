"""Each fault while the load generator commits ~200 changes/s: nothing lost, nothing applied twice.

RELIABILITY_SECONDS sets the load phase (short in ``make test``, 30 s in ``make reliability``);
RELIABILITY_ALL=1 also runs the scenarios left out of ``make test``.
"""

import os

import pytest

from tests.reliability.scenarios import SCENARIOS, Scenario, run_scenario

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

# Seconds from the end of the fault and the load until the catalog equals the admin
# (docs/decisions/0021-recovery-timings.md).
CONVERGE_AFTER_FAULT = 5.0

RUN_ALL = os.environ.get("RELIABILITY_ALL") == "1"
CHOSEN = [s for s in SCENARIOS if s.in_make_test or RUN_ALL]


@pytest.mark.parametrize("scenario", CHOSEN, ids=[s.name.replace(" ", "-") for s in CHOSEN])
def test_fault_under_load_loses_nothing(scenario: Scenario, reliability_stack, request):
    broker = request.getfixturevalue("module_broker") if scenario.broker == "throwaway" else None
    stack = reliability_stack(broker=broker, admin_pg=scenario.admin_pg, catalog_pg=scenario.catalog_pg)
    row, run = run_scenario(scenario, stack, broker=broker)
    print(row)
    assert row.sent > 0
    assert row.converge_s is not None, f"catalog never equalled the admin: {row}"
    assert row.lost == 0, row
    assert row.dup_with_effect == 0, row
    # Every committed (product, version), not only each final state: applied or skipped as older.
    assert row.changes_unaccounted == 0, row
    assert row.dead_lettered == 0, row  # a fault is no reason to dead-letter a good change
    assert row.converge_s <= CONVERGE_AFTER_FAULT, row
    if scenario.name == "broker memory alarm":
        checks = run.checks
        assert checks["first_failure_s"] <= checks["failure_bound_s"], checks
        assert checks["failures_during_alarm"] >= 2, checks
        assert checks["max_gap_s"] <= checks["gap_bound_s"], checks
        assert checks["relay_alive"], checks
        assert checks["last_attempt_advanced"], checks
    if scenario.name == "pool child SIGKILL":
        assert run.checks["killed_children"], "no pool child found to kill"
