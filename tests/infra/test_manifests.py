"""Deployment files, checked by what runs here (no Docker engine, no cluster). The Kubernetes
manifests have their own module: test_k8s.py."""

from __future__ import annotations

import re

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
