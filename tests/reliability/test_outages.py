"""Long outages heal by themselves: 0 lost, 0 dead-lettered, converged soon after the repair.

RELIABILITY_OUTAGE_SECONDS sets how long each outage lasts (60 s in ``make test``, 300 s in
``make reliability``); see tests/reliability/outages.py for why 60 s outlasts the old budget.
"""

import pytest

from tests.reliability.outages import CONVERGE_AFTER_OUTAGE, OUTAGE_SECONDS, OUTAGES
from tests.reliability.scenarios import Scenario, run_scenario

pytestmark = [pytest.mark.system, pytest.mark.timeout(OUTAGE_SECONDS + 600)]


@pytest.mark.parametrize("scenario", OUTAGES, ids=[s.name.split(" down")[0].replace(" ", "-") for s in OUTAGES])
def test_a_long_outage_heals_by_itself(scenario: Scenario, reliability_stack, request):
    broker = request.getfixturevalue("module_broker") if scenario.broker == "throwaway" else None
    stack = reliability_stack(broker=broker, admin_pg=scenario.admin_pg, catalog_pg=scenario.catalog_pg)
    row, run = run_scenario(scenario, stack, broker=broker)
    print(row)
    assert row.sent > 0
    assert run.checks["down_s"] >= OUTAGE_SECONDS
    assert row.dead_lettered == 0, row  # an outage is no reason to dead-letter a good change
    assert row.converge_s is not None, f"catalog never equalled the admin: {row}"
    assert row.lost == 0, row
    assert row.dup_with_effect == 0, row
    # Every committed (product, version), not only each final state: applied or skipped as older.
    assert row.changes_unaccounted == 0, row
    assert row.converge_s <= CONVERGE_AFTER_OUTAGE, row
    # No manual step: no process died and none was restarted.
    assert [p.alive() for p in run.relays + run.workers] == [True, True]
