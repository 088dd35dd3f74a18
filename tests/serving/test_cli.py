"""``lakehouse serve`` as a user starts it: a process, no JVM, request ids in its logs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from lakehouse.cli import cli
from tests.support.serving import READY_TIMEOUT_S, checkout

LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


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
    command = [sys.executable, "-m", "lakehouse", "serve", "--lake", lake, "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # mlflow.set_tracking_uri exported this process's last store: the child must use the lake's
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        port = None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while port is None and time.monotonic() < deadline and process.poll() is None:
            port = next((m.group(1) for m in map(LISTENING.search, list(lines)) if m), None)
            time.sleep(0.1)
        assert port, "".join(lines)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").text
                time.sleep(0.2)
            answer = client.post("/v1/delivery/predict", json=checkout(1))
            assert answer.status_code == 200 and answer.headers["x-request-id"]
            bad = checkout(2, createdDateTime="never")
            refused = client.post(
                "/v1/delivery/predict", json=bad, headers={"X-Request-ID": "cli-req-7"}
            )
            assert refused.status_code == 422
        assert not [c for c in _children(process.pid) if "java" in c], _children(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)
    log = "".join(lines)
    assert "[cli-req-7]" in log and "invalid_created_ts" in log
    assert "jane.doe@example.com" not in log
