"""Render the alert rules (infra/monitoring/rules/*.yml) as a prometheus-operator
``PrometheusRule`` (infra/k8s/monitoring/prometheus-rule.yaml): `make monitoring-manifests`.

The rules files stay the source (promtool checks and unit-tests them); the manifest is
generated from them, and tests/infra/test_alert_rules.py fails when it is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "monitoring" / "rules"
MANIFEST = ROOT / "infra" / "k8s" / "monitoring" / "prometheus-rule.yaml"
HEADER = (
    "# Generated from infra/monitoring/rules by infra/monitoring/render_k8s.py "
    "(make monitoring-manifests): do not edit.\n"
)


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
            "labels": {"app.kubernetes.io/part-of": "lakehouse", "role": "alert-rules"},
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=200)


if __name__ == "__main__":
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(render())
    print(f"wrote {MANIFEST.relative_to(ROOT)}", file=sys.stderr)
