"""Trivy's misconfiguration scan, run here exactly as the release workflow runs it
(.github/workflows/release.yml, job `scan`): the Dockerfiles and the Terraform as written, and
the Kubernetes objects the overlays render, failing on HIGH or CRITICAL findings. The checks
are built into the binary (`make tools`), so the scan needs no network (`--skip-check-update`);
the image scans need Trivy's vulnerability database, which this machine cannot fetch, and run
in the release only. Each scan is shown to find a planted problem."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lakehouse.config import PROJECT_ROOT
from tests.support.kustomize import K8S, OVERLAYS, build
from tests.support.tools import tool
from tests.support.workflows import RELEASE, TRIVY


def config_scans() -> dict[str, dict]:
    """The release's config scans by scan-ref: their inputs and environment."""
    workflow = yaml.safe_load(RELEASE.read_text())
    scans = {}
    for step in workflow["jobs"]["scan"]["steps"]:
        inputs = step.get("with", {})
        if step.get("uses", "").startswith(TRIVY) and inputs.get("scan-type") == "config":
            scans[inputs["scan-ref"]] = {**inputs, "env": step.get("env", {})}
    return scans


def trivy(scan: dict, target: Path, cache: Path) -> tuple[int, list[tuple[str, str, str]]]:
    """``trivy config`` with the step's settings on ``target``: the exit code and the failed
    checks (file, id, severity)."""
    command = [
        str(tool("trivy")),
        "config",
        "--skip-check-update",
        "--skip-version-check",
        "--quiet",
        "--cache-dir",
        str(cache),
        "--severity",
        scan["severity"],
        "--exit-code",
        str(scan["exit-code"]),
        "--format",
        "json",
        str(target),
    ]
    env = {**os.environ, **{k: str(v) for k, v in scan["env"].items()}}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.stdout, result.stderr[-3000:]
    report = json.loads(result.stdout)
    failed = [
        (item["Target"], check["ID"], check["Severity"])
        for item in report.get("Results") or []
        for check in item.get("Misconfigurations") or []
        if check["Status"] == "FAIL"
    ]
    return result.returncode, failed


@pytest.fixture(scope="module")
def scans() -> dict[str, dict]:
    found = config_scans()
    assert set(found) == {"infra", "rendered"}, found
    for scan in found.values():
        assert scan["severity"] == "HIGH,CRITICAL" and str(scan["exit-code"]) == "1"
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The overlays rendered as the workflow's `render the overlays` step writes them."""
    folder = tmp_path_factory.mktemp("rendered")
    for env in OVERLAYS:
        (folder / f"{env}.yaml").write_text(build(K8S / "overlays" / env))
    return folder


def test_the_iac_as_written_passes_the_release_scan(scans, tmp_path):
    assert scans["infra"]["env"]["TRIVY_MISCONFIG_SCANNERS"] == "dockerfile,terraform"
    code, failed = trivy(scans["infra"], PROJECT_ROOT / "infra", tmp_path)
    assert (code, failed) == (0, [])


def test_the_rendered_manifests_pass_the_release_scan(scans, rendered, tmp_path):
    code, failed = trivy(scans["rendered"], rendered, tmp_path)
    assert (code, failed) == (0, [])


def test_the_scans_find_planted_problems(scans, rendered, tmp_path):
    # a Dockerfile whose final user is root, buckets that public ACLs may open
    infra = tmp_path / "infra"
    shutil.copytree(PROJECT_ROOT / "infra" / "docker", infra / "docker")
    shutil.copytree(PROJECT_ROOT / "infra" / "terraform" / "modules", infra / "modules")
    serving = infra / "docker" / "serving.Dockerfile"
    serving.write_text(re.sub(r"(?m)^USER lakehouse$", "USER root", serving.read_text()))
    storage = infra / "modules" / "storage" / "main.tf"
    storage.write_text(
        storage.read_text().replace(
            "block_public_acls       = true", "block_public_acls       = false"
        )
    )
    code, failed = trivy(scans["infra"], infra, tmp_path / "cache")
    assert code == 1, failed
    assert {f[:2] for f in failed} == {
        ("docker/serving.Dockerfile", "DS-0002"),
        ("modules/storage/main.tf", "AWS-0086"),
    }, failed
    # a rendered container whose root file system is writable
    broken = tmp_path / "rendered"
    broken.mkdir()
    text = (rendered / "prod.yaml").read_text()
    text, count = re.subn(
        r"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", text, count=1
    )
    assert count == 1
    (broken / "prod.yaml").write_text(text)
    code, failed = trivy(scans["rendered"], broken, tmp_path / "cache")
    assert code == 1 and any(f[1] == "KSV-0014" for f in failed), failed
