"""The Grafana dashboards (infra/monitoring/dashboards): generated from their code, loadable
into the dashboard model of the pinned Grafana version, every query valid PromQL that reads
only metrics the project exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.monitoring import exported_metrics, metric_names, monitoring_script

MONITORING = PROJECT_ROOT / "infra" / "monitoring"


def boards() -> dict[str, dict]:
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted((MONITORING / "dashboards").glob("*.json"))
    }


def exprs(board: dict) -> list[str]:
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_the_dashboards_are_generated_from_their_code():
    module = monitoring_script("dashboards")
    assert set(boards()) == set(module.DASHBOARDS)
    for name in module.DASHBOARDS:
        committed = (MONITORING / "dashboards" / f"{name}.json").read_text()
        assert committed == module.render(name), f"{name}.json: make monitoring-manifests"


def test_each_dashboard_loads_into_grafana_s_model_unchanged():
    # a field the pinned Grafana version's dashboard schema does not have is dropped on load
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for name, board in boards().items():
        loaded = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
        assert loaded == board, name
        assert board["uid"] == name and board["panels"]
        # no two panels overlap on the grid
        cells = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            mine = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert grid["x"] + grid["w"] <= 24 and not cells & mine, (name, panel["title"])
            cells |= mine


def test_every_query_reads_only_exported_metrics():
    exported = exported_metrics()
    read = set()
    for name, board in boards().items():
        for expr in exprs(board):
            names = metric_names(expr)
            assert names, (name, expr)
            assert names <= exported, (name, names - exported)
            read |= names
    # and every exported metric is on a dashboard (a new metric should find a panel)
    assert family(exported) == family(read), sorted(family(exported) - family(read))


def family(names: set[str]) -> set[str]:
    """Series names to their metric's name (a histogram's _bucket, _count, _sum; _total)."""
    return {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in names}


def test_every_query_is_valid_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make services-deps` (Debian's prometheus)")
    # Grafana's interval variable, as Grafana substitutes it
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(e for board in boards().values() for e in exprs(board))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kubernetes_config_maps_carry_the_dashboards():
    render_k8s = monitoring_script("render_k8s")
    assert render_k8s.DASHBOARDS_MANIFEST.read_text() == render_k8s.render_dashboards(), (
        f"{render_k8s.DASHBOARDS_MANIFEST.relative_to(PROJECT_ROOT)} is out of date: "
        "make monitoring-manifests"
    )
    maps = list(yaml.safe_load_all(render_k8s.DASHBOARDS_MANIFEST.read_text()))
    carried = {
        name: json.loads(text)
        for config_map in maps
        if config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        for name, text in config_map["data"].items()
    }
    assert carried == {f"{name}.json": board for name, board in boards().items()}
    kustomization = yaml.safe_load((render_k8s.MANIFEST.parent / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {
        render_k8s.MANIFEST.name,
        render_k8s.DASHBOARDS_MANIFEST.name,
        "service-monitor.yaml",
    }


def test_the_service_monitor_scrapes_the_service_with_a_key():
    """/metrics needs the admin role: the ServiceMonitor sends a bearer key to the service's port
    (tests/infra/test_k8s.py checks the same on the rendered overlays)."""
    base = PROJECT_ROOT / "infra/k8s/base"
    monitor = yaml.safe_load((base / "monitoring/service-monitor.yaml").read_text())
    service = yaml.safe_load((base / "serving/service.yaml").read_text())
    deployment = yaml.safe_load((base / "serving/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert monitor["kind"] == "ServiceMonitor"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["targetPort"] in ports and endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["type"] == "Bearer"
    assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}
