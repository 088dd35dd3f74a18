"""The validators `make tools` builds into .tools/bin (see infra/tools/go-tools.txt)."""

from __future__ import annotations

from pathlib import Path

from lakehouse.config import PROJECT_ROOT

TOOLS_BIN = PROJECT_ROOT / ".tools" / "bin"


def tool(name: str) -> Path:
    """The path of a built validator; a clear failure (not a skip) when it is missing."""
    path = TOOLS_BIN / name
    if not path.is_file():
        raise AssertionError(f"{path} is missing: run `make tools` (infra/tools/go-tools.txt)")
    return path
