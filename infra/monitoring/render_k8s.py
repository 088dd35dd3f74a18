"""Render the monitoring for Kubernetes (`make monitoring-manifests`, after the dashboards):

- the alert rules (infra/monitoring/rules/*.yml) as a prometheus-operator ``PrometheusRule``
  (infra/k8s/base/monitoring/prometheus-rule.yaml);
- the Grafana dashboards (infra/monitoring/dashboards/*.json) as ConfigMaps that Grafana's
  dashboard sidecar provisions (label ``grafana_dashboard``; infra/k8s/base/monitoring/
  grafana-dashboards.yaml).

The rules and dashboards stay the sources (promtool and the dashboard tests check them); the
manifests are generated from them, and tests/infra fail when they are out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "monitoring" / "rules"
DASHBOARDS = ROOT / "infra" / "monitoring" / "dashboards"
MANIFEST = ROOT / "infra" / "k8s" / "base" / "monitoring" / "prometheus-rule.yaml"
DASHBOARDS_MANIFEST = ROOT / "infra" / "k8s" / "base" / "monitoring" / "grafana-dashboards.yaml"
HEADER = (
    "# Generated from infra/monitoring/{} by infra/monitoring/render_k8s.py "
    "(make monitoring-manifests): do not edit.\n"
)
LABELS = {"app.kubernetes.io/part-of": "lakehouse"}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the PromQL expressions) as literal blocks, as in the rules files."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _string)


def render() -> str:
    groups = [
        group
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "lakehouse",
            "labels": {**LABELS, "role": "alert-rules"},
        },
        "spec": {"groups": groups},
    }
    return HEADER.format("rules") + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=200)


def render_dashboards() -> str:
    """One ConfigMap per dashboard, for the Grafana sidecar (folder "Lakehouse")."""
    maps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{path.stem}",
                "labels": {**LABELS, "grafana_dashboard": "1"},
                "annotations": {"grafana_folder": "Lakehouse"},
            },
            "data": {path.name: path.read_text()},
        }
        for path in sorted(DASHBOARDS.glob("*.json"))
    ]
    documents = yaml.dump_all(maps, Dumper=_Dumper, sort_keys=False, width=200)
    return HEADER.format("dashboards") + documents


if __name__ == "__main__":
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(render())
    DASHBOARDS_MANIFEST.write_text(render_dashboards())
    for path in (MANIFEST, DASHBOARDS_MANIFEST):
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
