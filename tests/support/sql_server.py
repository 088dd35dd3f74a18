"""`lakehouse sql-server` as a process of its own, for the tests that connect to it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port

# the suite turns the catalog off for the commands it runs (tests/conftest.py): not here
CATALOG_ON = {
    **{k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"},
    "LAKEHOUSE_SET": "[]",
}
SMALL = ["--set", "spark.master=local[1]", "--set", "spark.conf.spark.ui.enabled=false"]


@dataclass(frozen=True)
class SqlServer:
    connect_url: str
    jdbc_url: str | None


def wait_for_line(process: subprocess.Popen, text: str, timeout: float) -> list[str]:
    """Read the process's stdout until a line holds ``text``; fail with what it printed."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} on its stdout: {''.join(lines)[-3000:]}")


@contextlib.contextmanager
def sql_server(lake: Path, *args: str, thrift: bool = True) -> Iterator[SqlServer]:
    """Start the server on free loopback ports; stop it with SIGTERM, which must end it
    cleanly (exit code 0)."""
    connect, jdbc = free_port(), free_port()
    command = [sys.executable, "-m", "lakehouse", "sql-server", "--lake", str(lake)]
    command += ["--connect-port", str(connect), "--thrift-port", str(jdbc), *args, *SMALL]
    if not thrift:
        command.append("--no-thrift")
    process = subprocess.Popen(
        command, env=CATALOG_ON, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        printed = "".join(wait_for_line(process, "ready", timeout=240))
        assert f"sc://127.0.0.1:{connect}" in printed
        yield SqlServer(
            f"sc://127.0.0.1:{connect}", f"jdbc:hive2://127.0.0.1:{jdbc}" if thrift else None
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, f"the SQL server ended with {code}"
