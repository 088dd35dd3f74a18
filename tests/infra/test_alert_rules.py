"""The Prometheus alert rules (infra/monitoring/rules): valid for `promtool check rules`, every
alert unit-tested by `promtool test rules` (firing and quiet cases), each with its runbook
section in docs/OPERATIONS.md, and each naming only metrics the project exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.monitoring import exported_metrics, metric_names, monitoring_script

MONITORING = PROJECT_ROOT / "infra" / "monitoring"
RULES = sorted((MONITORING / "rules").glob("*.yml"))
TESTS = sorted((MONITORING / "tests").glob("*.yml"))
OPERATIONS = PROJECT_ROOT / "docs" / "OPERATIONS.md"


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run `make services-deps` (Debian's prometheus)")
    return binary


def alerts() -> list[dict]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_rules_pass_promtool_check():
    assert RULES
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say():
    assert TESTS
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, TESTS)],
        capture_output=True,
        text=True,
        cwd=MONITORING / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for path in TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    # every alert is shown to fire at least once (and, in its test, to stay quiet on the rest)
    assert {rule["alert"] for rule in alerts()} <= tested


def test_every_alert_has_a_runbook_section():
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alerts():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"docs/OPERATIONS.md has no section {rule['alert']}"


def test_alerts_name_only_metrics_the_project_exports():
    exported = exported_metrics()
    for rule in alerts():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)


def test_the_kubernetes_prometheus_rule_is_rendered_from_the_rules():
    render_k8s = monitoring_script("render_k8s")
    assert render_k8s.MANIFEST.read_text() == render_k8s.render(), (
        "infra/k8s/base/monitoring/prometheus-rule.yaml is out of date: make monitoring-manifests"
    )
    manifest = yaml.safe_load(render_k8s.MANIFEST.read_text())
    assert manifest["kind"] == "PrometheusRule"
    groups = [g for path in RULES for g in yaml.safe_load(path.read_text())["groups"]]
    assert manifest["spec"]["groups"] == groups
