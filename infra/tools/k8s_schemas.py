"""The JSON schemas kubeconform validates the Kubernetes manifests with, made offline.

kubeconform fetches its schemas from GitHub by default, which this project's machines do not
reach. This script lays them out under .tools/k8s-schemas from pinned packages instead:

- the Kubernetes API's own kinds from the ``kubernetes-validate`` package (PyPI, installed in
  the virtualenv), which ships them per Kubernetes version; its ``$ref``s are made relative so
  that kubeconform resolves them beside each file;
- the custom resources the manifests use (the prometheus-operator's ServiceMonitor and
  PrometheusRule, the External Secrets Operator's SecretStore and ExternalSecret) from the
  CustomResourceDefinitions inside those projects' Go module zips (``go mod download``, the Go
  module proxy), converted to JSON schema as openapi2jsonschema does, and strict: an object
  that lists its properties allows no others.

``python infra/tools/k8s_schemas.py`` prints the ``-schema-location`` arguments; the tests
call ``schema_locations()``. A layout made from the same pins is kept.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".tools" / "k8s-schemas"

# The Kubernetes version the manifests are checked against (kubeconform -kubernetes-version):
# the clusters' (infra/terraform/envs/*/main.tf, module "eks" kubernetes_version; a test
# keeps them equal)
KUBERNETES_VERSION = "1.36.0"
# module@version -> (folder of CRD files inside the module, file name prefixes to convert)
CRD_MODULES = {
    "github.com/prometheus-operator/prometheus-operator@v0.85.0": (
        "example/prometheus-operator-crd",
        (
            "monitoring.coreos.com_servicemonitors",
            "monitoring.coreos.com_podmonitors",
            "monitoring.coreos.com_prometheusrules",
        ),
    ),
    "github.com/external-secrets/external-secrets@v1.3.2": (
        "config/crds/bases",
        ("external-secrets.io_",),
    ),
}
PINS = {"kubernetes": KUBERNETES_VERSION, "crds": sorted(CRD_MODULES), "layout": 2}

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def core_dir() -> Path:
    return OUT / f"v{KUBERNETES_VERSION}-standalone-strict"


def crd_dir() -> Path:
    return OUT / "crds"


def schema_locations() -> list[str]:
    """kubeconform's ``-schema-location`` values, the layout made first when missing."""
    ensure()
    return [
        str(OUT / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
            / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
        str(crd_dir() / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
    ]  # fmt: skip


def ensure() -> None:
    stamp = OUT / "pins.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == PINS:
        return
    shutil.rmtree(OUT, ignore_errors=True)
    build = OUT.with_name(OUT.name + ".partial")
    shutil.rmtree(build, ignore_errors=True)
    _write_core(build / core_dir().name)
    for module, (folder, prefixes) in CRD_MODULES.items():
        source = _module_dir(module) / folder
        paths = sorted(p for p in source.glob("*.yaml") if p.name.startswith(prefixes))
        if not paths:
            raise RuntimeError(f"no CRDs {prefixes} in {source}")
        for path in paths:
            _write_crd(path, build / crd_dir().name)
    (build / stamp.name).write_text(json.dumps(PINS))
    build.rename(OUT)


def _write_core(target: Path) -> None:
    try:
        from importlib.resources import files

        package = files("kubernetes_validate")
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "the Kubernetes schemas come from the kubernetes-validate package: "
            "install it in the virtualenv (make venv)"
        ) from exc
    source = Path(str(package)) / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    if not source.is_dir():
        raise RuntimeError(f"kubernetes-validate has no schemas for {KUBERNETES_VERSION}: {source}")
    target.mkdir(parents=True)
    for path in source.glob("*.json"):
        # "/api/_definitions.json#/$defs/..." -> "_definitions.json#/$defs/...", the file beside
        text = path.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
        schema = json.loads(text)
        # kubeconform resolves a file's $refs against its path: no kubernetes.io $id
        schema.pop("$id", None)
        # kubernetes-validate checks with draft 2020-12; kubeconform assumes draft 4 unless told
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        (target / path.name).write_text(json.dumps(schema))


def _module_dir(module: str) -> Path:
    if shutil.which("go") is None:
        raise RuntimeError("'go' is not on PATH: the CRDs come from the Go module proxy")
    result = subprocess.run(
        ["go", "mod", "download", "-json", module], capture_output=True, text=True
    )
    info = json.loads(result.stdout) if result.stdout.strip() else {}
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module} failed: {info.get('Error') or result.stderr}")
    return Path(info["Dir"])


def _write_crd(path: Path, target: Path) -> None:
    for crd in yaml.load_all(path.read_text(), Loader=_Loader):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = to_json_schema(version["schema"]["openAPIV3Schema"])
            schema["properties"]["apiVersion"] = {"enum": [f"{group}/{version['name']}"]}
            schema["properties"]["kind"] = {"enum": [kind]}
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            folder = target / group
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{kind.lower()}_{version['name']}.json"
            (folder / name).write_text(json.dumps(schema))


def to_json_schema(openapi: dict) -> dict:
    """A CRD's OpenAPI v3 schema as JSON schema: ``nullable`` becomes a null type, and an
    object that names its properties (and does not keep unknown fields) allows no others."""

    def convert(node):
        if not isinstance(node, dict):
            return node  # a boolean schema
        out = dict(node)
        if "properties" in out:
            out["properties"] = {name: convert(s) for name, s in out["properties"].items()}
        for key in ("items", "additionalProperties", "not"):
            if key in out:
                out[key] = convert(out[key])
        for key in ("allOf", "anyOf", "oneOf"):
            if key in out:
                out[key] = [convert(s) for s in out[key]]
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out

    return convert(copy.deepcopy(openapi))


if __name__ == "__main__":
    try:
        for location in schema_locations():
            print(f"-schema-location {location}")
    except RuntimeError as exc:
        sys.exit(f"k8s_schemas: {exc}")
