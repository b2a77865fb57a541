"""How the processes start and stop: clean SIGTERM, and refusal without required settings."""

import signal
import subprocess

import pytest

from testkit.paths import START
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(180)]


def test_relay_stops_cleanly_on_sigterm_and_publishes_after_restart(make_stack):
    stack = make_stack()
    relay = stack.start("admin-relay")
    wait_until(lambda: "relay started" in relay.log(), timeout=60, what="relay started")
    relay.signal_group(signal.SIGTERM)
    wait_until(lambda: not relay.alive(), timeout=15, what="relay exits after SIGTERM")
    assert relay.popen.returncode == 0
    assert "relay stopped" in relay.log()

    # Changes committed while no relay runs wait in the outbox, then go out.
    stack.edit_products("sigterm", 5)
    assert stack.pending_outbox() == 5
    stack.start("catalog-worker")
    stack.start("admin-relay", suffix="-again")
    wait_until(stack.catalog_matches_admin, timeout=60, what="catalog equals admin")


@pytest.mark.parametrize("value", [None, "", "nopassword", "user:", ":pass", "a:b,c:d"])
def test_flower_refuses_to_start_without_valid_basic_auth(make_stack, value):
    stack = make_stack()
    env = stack.env
    env.pop("FLOWER_BASIC_AUTH", None)
    if value is not None:
        env["FLOWER_BASIC_AUTH"] = value
    result = subprocess.run([str(START / "flower")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
    assert "user:password" in result.stderr
