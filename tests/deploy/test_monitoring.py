"""The Prometheus alert rules and the Grafana dashboard in deploy/: valid, unit-tested, and
written over metrics the services really serve."""

import json
import re
import shutil
import subprocess

import pytest

from testkit.paths import REPO

pytestmark = pytest.mark.timeout(120)

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "product-sync.json"
METRIC_MODULES = [REPO / "admin_app" / "sync" / "metrics.py", REPO / "catalog_worker" / "catalog" / "metrics.py"]
# The series names prometheus_client writes for each kind of family.
SUFFIXES = {
    "CounterMetricFamily": ("_total",),
    "GaugeMetricFamily": ("",),
    "GaugeHistogramMetricFamily": ("_bucket", "_gcount", "_gsum"),
}
FAMILY = re.compile(r"(CounterMetricFamily|GaugeMetricFamily|GaugeHistogramMetricFamily)\(\s*\"([a-z_]+)\"")
METRIC_NAME = re.compile(r"\b(?:sync|catalog)_[a-z_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: apt-get install prometheus (.ci/run installs it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def exported_series() -> set[str]:
    names = set()
    for module in METRIC_MODULES:
        for kind, name in FAMILY.findall(module.read_text()):
            names.update(name + suffix for suffix in SUFFIXES[kind])
    return names


def test_the_alert_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests() -> None:
    # Dead letters, pending age, relays not publishing, no worker consuming, lag p95.
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expected_alerts_are_there() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M))
    assert alerts == {
        "SyncOutboxEventPendingTooLong",
        "SyncRelayNotPublishing",
        "SyncDeadLetters",
        "SyncDriftFound",
        "SyncLagHigh",
        "SyncNoWorkerConsuming",
        "SyncBrokerUnreachable",
    }


def names_in(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(expr)}


def family(series: str) -> str:
    return re.sub(r"_(total|bucket|gcount|gsum)$", "", series)


def test_every_expression_uses_only_metrics_the_services_serve() -> None:
    exported = exported_series()
    assert {"sync_queue_messages", "sync_queue_consumers", "catalog_sync_lag_recent_seconds_bucket"} <= exported
    dashboard = json.loads(DASHBOARD.read_text())
    on_dashboard = names_in([target["expr"] for panel in dashboard["panels"] for target in panel["targets"]])
    in_rules = names_in(re.findall(r"^\s+expr: (.+)$", RULES.read_text(), re.M))
    assert on_dashboard
    assert in_rules
    assert on_dashboard <= exported, f"not served by any /metrics: {sorted(on_dashboard - exported)}"
    assert in_rules <= exported, f"not served by any /metrics: {sorted(in_rules - exported)}"
    # And the dashboard shows every family but the drift check's time stamp.
    missing = {family(n) for n in exported} - {family(n) for n in on_dashboard}
    assert missing == {"sync_drift_last_run_timestamp_seconds"}, sorted(missing)
