"""The Kubernetes manifests (infra/k8s) as rendered objects: `kustomize build` of a folder, and
lookups by kind and name. Used by tests/infra/test_k8s.py and
tests/infra/test_deploy_consistency.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.tools import tool

K8S = PROJECT_ROOT / "infra" / "k8s"
OVERLAYS = ("staging", "prod")
# our images (infra/docker): CI builds and pushes each by digest, the overlays pin them
IMAGES = ("lakehouse-serving", "lakehouse-jobs", "lakehouse-mlflow")


def build(folder: Path) -> str:
    result = subprocess.run(
        [str(tool("kustomize")), "build", str(folder)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(folder: Path) -> list[dict]:
    """The objects a kustomization renders."""
    documents = [d for d in yaml.safe_load_all(build(folder)) if d]
    assert documents, folder
    return documents


def of_kind(documents: list[dict], kind: str) -> list[dict]:
    return [d for d in documents if d["kind"] == kind]


def named(documents: list[dict], kind: str, name: str, namespace: str) -> dict:
    (found,) = [
        d
        for d in of_kind(documents, kind)
        if d["metadata"]["name"] == name and d["metadata"].get("namespace") == namespace
    ]
    return found
