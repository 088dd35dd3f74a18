"""Where the GitHub Actions workflows are, for the tests that read them."""

from __future__ import annotations

from lakehouse.config import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
# the image scanner's action, pinned by digest wherever a workflow uses it
TRIVY = "aquasecurity/trivy-action@"
