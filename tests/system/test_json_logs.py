"""LOG_FORMAT=json: relay and worker write one JSON object per line, the ids of each change as
fields; a wrong value stops start-up with a readable error."""

import json
import subprocess

import pytest

from testkit.paths import START
from testkit.waiting import wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(180)]


def json_lines(text: str) -> list[dict]:
    # The log records; the start scripts' own output (the system check's verdict, Celery's
    # banner) is not logging and stays text.
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_relay_and_worker_log_one_json_object_per_line_with_the_ids_as_fields(make_stack):
    stack = make_stack()
    env = {**stack.env, "LOG_FORMAT": "json"}
    worker = stack.start("catalog-worker", env=env)
    relay = stack.start("admin-relay", env=env)
    stack.wait_for_consumers(1)
    ids = stack.edit_products("json", 1)
    wait_until(stack.catalog_matches_admin, timeout=60, what="catalog equals admin")
    product_id = ids[0]

    def line_with(process, message: str) -> dict | None:
        for line in json_lines(process.log()):
            if line["message"].startswith(message) and line.get("product_id") == product_id:
                return line
        return None

    applied = wait_until(lambda: line_with(worker, "applied"), timeout=30, what="the worker's applied line")
    published = line_with(relay, "published")
    assert published is not None
    for line in (applied, published):
        assert set(line) >= {"time", "level", "logger", "message", "task_id", "event_id", "product_id", "version"}
        assert line["version"] == 1
    assert applied["task_id"] == published["task_id"]
    assert applied["event_id"] == published["event_id"]


def test_a_wrong_log_format_stops_start_up_with_a_readable_error(make_stack):
    stack = make_stack()
    env = {**stack.env, "LOG_FORMAT": "xml"}
    result = subprocess.run([str(START / "admin-relay")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of text, json, got 'xml'" in result.stderr
