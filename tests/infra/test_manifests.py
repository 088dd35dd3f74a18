"""Deployment files, checked by what runs here (no Docker engine, no cluster)."""

from __future__ import annotations

import re

import yaml

from lakehouse.config import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"


def test_serving_dockerfile_copies_what_exists_and_runs_the_service():
    text = (INFRA / "docker" / "serving.Dockerfile").read_text()
    copied = [
        source
        for line in text.splitlines()
        if line.startswith("COPY") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    assert copied, "no COPY lines"
    for source in copied:
        assert (PROJECT_ROOT / source).exists(), source
    assert re.search(r'ENTRYPOINT \["lakehouse", "serve"', text)
    assert "USER lakehouse" in text  # not root
    assert "-c constraints.txt" in text  # the same pins as everywhere


def test_k8s_probes_point_at_the_service_routes(tmp_path):
    from lakehouse.config import load_settings
    from serving.main import create_app

    documents = list(yaml.safe_load_all((INFRA / "k8s" / "serving.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"Deployment", "Service"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    probes = {
        container["livenessProbe"]["httpGet"]["path"],
        container["readinessProbe"]["httpGet"]["path"],
    }
    assert probes == {"/health", "/ready"}
    # the pods run with the env's API keys (authentication cannot be off outside local)
    (env,) = [e["value"] for e in container["env"] if e["name"] == "LAKEHOUSE_ENV"]
    assert env != "local" and load_settings(env).secrets.api_keys
    # building the app loads nothing (that happens in its lifespan), so this is cheap
    app = create_app(settings=load_settings(lake=str(tmp_path)))
    paths = set(app.openapi()["paths"])
    assert probes | {"/metrics"} <= paths
    secrets = [e for e in container["env"] if "valueFrom" in e]
    names = {e["name"] for e in container["env"]}
    assert {e["name"] for e in secrets} >= {"AWS_SECRET_ACCESS_KEY"}
    # the service tokenizes nothing: it is never handed the PII key
    assert "LAKEHOUSE_HMAC_KEY" not in names
