"""Failpoints: named places where a fault test makes this process die as a crash would.

``LAKEHOUSE_FAILPOINT=NAME`` (an ``fnmatch`` pattern, optionally ``PATTERN@N`` for the N-th
pass, default the first) kills the process with SIGKILL when it reaches a matching failpoint:
no ``finally`` block, no Spark shutdown, no lock release, exactly what the kernel's OOM killer
or a lost machine does. The names:

- ``write:<layer>/<table>``: a write to that table is about to start;
- ``commit:<layer>/<table>``: a new table's first commit is written but not yet in place;
- ``committed:<layer>/<table>``: a write to that table is committed (and in place), and
  nothing that comes after it (the batch's ledger row, the stream's checkpoint) is yet.

Unset (always, outside the fault tests) a failpoint costs one environment lookup.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
import threading

FAILPOINT_ENV = "LAKEHOUSE_FAILPOINT"

_passes: dict[str, int] = {}
_lock = threading.Lock()


def table_name(path: str) -> str:
    """``<layer>/<table>``: the last two parts of a table's path or URI."""
    parts = [p for p in path.rstrip("/").replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:])


def failpoint(name: str) -> None:
    """Die here (SIGKILL) when ``LAKEHOUSE_FAILPOINT`` names this place."""
    spec = os.environ.get(FAILPOINT_ENV)
    if not spec:
        return
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return
    with _lock:
        _passes[pattern] = _passes.get(pattern, 0) + 1
        if _passes[pattern] != (int(nth) if nth else 1):
            return
    sys.stderr.write(f"failpoint {name}: killing process {os.getpid()}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
