"""Long outages under load: the catalog PostgreSQL, the admin PostgreSQL or the broker down
for ``RELIABILITY_OUTAGE_SECONDS``, longer than the worker's old retry budget.

Nothing may be lost or dead-lettered, and no one may step in: the worker holds its messages
while its database does not answer (catalog.db_wait), the relay waits for its database and
backs off from the broker, the worker reconnects to the broker forever. The catalog must equal
the admin within ``CONVERGE_AFTER_OUTAGE`` seconds of the end of the outage (measured from
after a few changes made once it is over), with every process still the one started.

The old budget, with the suite's settings (FAST_RECOVERY: CATALOG_RETRY_MAX=8, backoff 0.5 s
doubling to at most 4 s, equal jitter, +1 s per countdown): 8 countdowns of 1 + U[d/2, d] for
d = 0.5, 1, 2, 4, 4, 4, 4, 4 s, i.e. 19.75 to 31.5 s, plus up to 1 s each for the whole-second
routing of delayed delivery: at most 39.5 s. ``make test`` holds each outage 60 s (1.5 times
that); ``make reliability`` 300 s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from tests.reliability.scenarios import Run, Scenario

OUTAGE_SECONDS = float(os.environ.get("RELIABILITY_OUTAGE_SECONDS", "60"))
CONVERGE_AFTER_OUTAGE = 10.0
AFTER_REPAIR = 20


def _down_for(stop: Callable[[Run], None], start: Callable[[Run], None], what: str) -> Callable[[Run], None]:
    def fault(run: Run) -> None:
        run.at(0.3)
        stop(run)
        down = time.monotonic()
        time.sleep(OUTAGE_SECONDS)  # the outage itself: held this long, whatever happens meanwhile
        start(run)
        run.checks["healed_at"] = time.time()
        run.checks["down_s"] = round(time.monotonic() - down, 1)
        # Changes made right after the repair must flow too (the load phase may be over):
        # the relay and the worker resume on their own.
        run.stack.edit_products(f"after-{run.stack.name}", AFTER_REPAIR, updates=AFTER_REPAIR // 2)
        run.notes.append(f"{what} down {run.checks['down_s']:g}s, {AFTER_REPAIR} products created after")

    return fault


catalog_pg_down = _down_for(
    lambda run: run.stack.catalog_pg.stop("fast"), lambda run: run.stack.catalog_pg.start(), "catalog PostgreSQL"
)
admin_pg_down = _down_for(
    lambda run: run.stack.admin_pg.stop("fast"), lambda run: run.stack.admin_pg.start(), "admin PostgreSQL"
)
broker_down = _down_for(lambda run: run.broker.stop(), lambda run: run.broker.start(), "broker")

OUTAGES = [
    Scenario(f"catalog PostgreSQL down {OUTAGE_SECONDS:g} s", catalog_pg_down, catalog_pg=True),
    Scenario(f"admin PostgreSQL down {OUTAGE_SECONDS:g} s", admin_pg_down, admin_pg=True),
    Scenario(f"broker down {OUTAGE_SECONDS:g} s", broker_down, broker="throwaway"),
]
