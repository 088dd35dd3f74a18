"""A new table appears whole, with its first commit (``lakehouse.io.delta._write_table``)."""

from __future__ import annotations

import pytest

from lakehouse.io.delta import _write_table, append_once, is_delta_table, read_table


def test_a_first_write_appears_with_its_commit_and_the_next_writes_go_in_place(spark, tmp_path):
    path = tmp_path / "bronze" / "t"
    append_once(spark.range(3), str(path), app_id="a", batch_id=0)
    append_once(spark.range(3), str(path), app_id="a", batch_id=0)  # a replay: nothing new
    append_once(spark.range(2), str(path), app_id="a", batch_id=1)
    assert read_table(spark, str(path)).count() == 5
    assert sorted(p.name for p in path.parent.iterdir()) == ["t"]


def test_a_leftover_folder_without_a_commit_is_replaced(spark, tmp_path):
    """What a crash inside Delta's own first write leaves: a log with no commit, and data
    files nothing refers to."""
    path = tmp_path / "silver" / "t"
    (path / "_delta_log").mkdir(parents=True)
    (path / "part-00000-orphan.snappy.parquet").write_bytes(b"half a file")
    assert not is_delta_table(spark, str(path))
    append_once(spark.range(4), str(path), app_id="a", batch_id=0)
    assert read_table(spark, str(path)).count() == 4
    assert not (path / "part-00000-orphan.snappy.parquet").exists()
    assert not (tmp_path / "silver" / ".t.creating").exists()


def test_a_first_write_never_replaces_a_table_that_has_commits(spark, tmp_path):
    path = str(tmp_path / "gold" / "t")
    append_once(spark.range(3), path, app_id="a", batch_id=0)

    def write(location: str) -> None:
        spark.range(1).write.format("delta").save(location)

    with pytest.raises(RuntimeError, match="appeared while its first commit"):
        _write_table(spark, path, write, new=True)
    assert read_table(spark, path).count() == 3
