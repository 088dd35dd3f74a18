"""``lakehouse serve`` as a user starts it: a process, no JVM, request ids in its logs."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from click.testing import CliRunner

from lakehouse.cli import cli
from tests.support.serving import checkout, serve_process


def test_serve_and_score_are_commands():
    for command in ("serve", "score"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "--lake" in result.output
    assert "--port" in CliRunner().invoke(cli, ["serve", "--help"]).output


def _children(pid: int) -> list[str]:
    """Command lines of every process below ``pid``."""
    found, parents = [], {pid}
    for _ in range(3):  # a few levels are plenty
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError):
                continue
            child = int(stat.parent.name)
            if int(fields[1]) in parents and child not in parents:
                parents.add(child)
                found.append(cmdline)
    return found


def test_serve_process_answers_without_a_jvm_and_logs_request_ids(serving_lake):
    lake = serving_lake.settings.lake_root
    env = dict(os.environ)
    # mlflow.set_tracking_uri exported this process's last store: the child must use the lake's
    env.pop("MLFLOW_TRACKING_URI", None)
    with serve_process(["--lake", lake], env) as service:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            answer = client.post("/v1/delivery/predict", json=checkout(1))
            assert answer.status_code == 200 and answer.headers["x-request-id"]
            bad = checkout(2, createdDateTime="never")
            refused = client.post(
                "/v1/delivery/predict", json=bad, headers={"X-Request-ID": "cli-req-7"}
            )
            assert refused.status_code == 422
        assert not [c for c in _children(service.pid) if "java" in c], _children(service.pid)
    log = service.log
    assert "[cli-req-7]" in log and "invalid_created_ts" in log
    assert "jane.doe@example.com" not in log
