"""The same arguments give byte-identical files and modification times, whatever the workers."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from lakehouse.generate import generate_sessions_landing

SMALL = {
    "documents": 2_400,
    "docs_per_file": 300,
    "days": 20,
    "start": dt.date(2024, 6, 1),
    "anomaly_rate": 0.05,
}


def _snapshot(root) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), os.stat(path).st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes_and_mtimes_with_any_workers(tmp_path):
    one = generate_sessions_landing(tmp_path / "one", seed=5, workers=1, **SMALL)
    two = generate_sessions_landing(tmp_path / "two", seed=5, workers=2, **SMALL)
    assert one == two
    first, second = _snapshot(tmp_path / "one"), _snapshot(tmp_path / "two")
    assert len(first) == len(one["files"]) + 1  # the manifest
    assert first == second


def test_another_seed_gives_other_data(tmp_path):
    generate_sessions_landing(tmp_path / "a", seed=5, workers=1, **SMALL)
    generate_sessions_landing(tmp_path / "b", seed=6, workers=1, **SMALL)
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    shared = set(a) & set(b)
    assert all(a[p][0] != b[p][0] for p in shared if not p.startswith("_manifest"))


def test_gzip_files_carry_no_timestamp(tmp_path):
    manifest = generate_sessions_landing(tmp_path, seed=5, workers=1, **SMALL)
    gz = [f["path"] for f in manifest["files"] if f["gzip"]]
    assert gz
    for path in gz:
        header = (tmp_path / path).read_bytes()[:10]
        assert header[:3] == b"\x1f\x8b\x08" and header[4:8] == b"\0\0\0\0"


@pytest.mark.parametrize(
    "bad",
    [
        {"documents": 0},
        {"anomaly_rate": 1.5},
        {"docs_per_file": 0},
        {"days": 1, "documents": 10**6, "docs_per_file": 1},
    ],
)
def test_invalid_arguments_are_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        generate_sessions_landing(tmp_path, **{**SMALL, **bad, "workers": 1})
