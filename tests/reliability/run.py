"""``make reliability``: the whole reliability suite with full load phases, then the table.

    python -m tests.reliability.run [pytest args…]

Runs tests/reliability with RELIABILITY_SECONDS=30 and RELIABILITY_OUTAGE_SECONDS=300
(unless set) and every fault scenario (RELIABILITY_ALL=1), prints one row per scenario and saves the table to
tests/reliability/latest.md. The exit status is pytest's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from testkit.paths import REPO
from tests.reliability.scenarios import ROWS_FILE, table

LATEST = REPO / "tests" / "reliability" / "latest.md"


def main(argv: list[str]) -> int:
    env = {**os.environ, "RELIABILITY_ALL": "1"}
    env.setdefault("RELIABILITY_SECONDS", "30")
    env.setdefault("RELIABILITY_OUTAGE_SECONDS", "300")
    ROWS_FILE.unlink(missing_ok=True)
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    status = subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(REPO),
            "-p",
            "no:django",
            "tests/reliability",
            *argv,
        ],
        cwd=REPO,
        env=env,
    )
    rows = (
        [json.loads(line) for line in ROWS_FILE.read_text().splitlines() if line.strip()] if ROWS_FILE.exists() else []
    )
    text = table(rows)
    sys.stdout.write("\n" + text + "\n")
    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    LATEST.write_text(
        "# Reliability figures (latest `make reliability`)\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC on commit {commit or '?'} (working tree may differ), "
        f"{env['RELIABILITY_SECONDS']} s of load per scenario at {env.get('RELIABILITY_RATE', '200')} changes/s "
        f"requested; pytest exit status {status}; machine load average (1, 5, 15 min) at the start "
        f"{load_start[0]:.1f} {load_start[1]:.1f} {load_start[2]:.1f}, at the end {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} (2 cores).\n\n"
        "sent: outbox events committed; applied: products whose final admin state the catalog holds; "
        "lost: products whose final state it does not hold after the deadline; dup w/ effect: applies "
        "beyond the distinct (product, version) changes, plus rows the admin never had; converge s: from "
        "the end of the fault and the load until the catalog equals the admin; caught up s: from the "
        "fault's repair until the catalog held every change committed before it; changes: each committed "
        "(product, version) applied, skipped as older (or superseded in its message), or unaccounted.\n\n" + text + "\n"
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
