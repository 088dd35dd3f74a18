"""Lakes in tests: comparing two built from the same landing zone, and common settings."""

from __future__ import annotations

import csv
import io
import json

from pyspark.sql import DataFrame

from lakehouse.config import load_settings

# For tests of something other than data quality: their runs leave Gold's expectation suites
# out (tests/quality checks them; the CLI, S3 and sessions pipeline tests run them too).
NO_SUITES = "quality.suites=false"


def lake_settings(root, hmac_key: str, *overrides: str):
    """Settings for a landing zone and a lake under ``root``, suites off."""
    return load_settings(
        "local",
        landing=str(root / "landing"),
        lake=str(root / "lake"),
        overrides=[f"privacy.hmac_key={hmac_key}", NO_SUITES, *overrides],
    )


def csv_text(header, rows) -> str:
    """A CSV file's text: the header, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def run_specific(name: str) -> bool:
    """Columns recording when, from which file (local path or s3a:// key) or in which batch."""
    return (
        name.endswith("_at")
        or "source_file" in name
        or name.startswith("_batch")
        or name.endswith("_batch_id")  # Silver's _bronze_batch_id
    )


def comparable(df: DataFrame, key: bytes | None = None) -> list[str]:
    """Rows (as their reprs, which order nulls and nested values too) sorted, run-time
    columns left out. With the PII key ``key``, the raw zones' ciphertexts (a new random IV each
    run) are compared by their clear text."""
    keep = [f.name for f in df.schema.fields if not run_specific(f.name)]
    rows = (tuple(r) for r in df.select(*keep).collect())
    if key is not None:
        rows = (_opened(r, key) for r in rows)
    return sorted(repr(r) for r in rows)


def _opened(value, key: bytes):
    """``value`` (a row's value, nested or not) with every raw-zone ciphertext decrypted."""
    from lakehouse.privacy import reveal_py

    if isinstance(value, str):
        return reveal_py(value, key)
    if isinstance(value, dict):
        return {k: _opened(v, key) for k, v in value.items()}
    if isinstance(value, tuple):  # a tuple or a Row (a nested struct)
        return tuple(_opened(v, key) for v in value)
    if isinstance(value, list):
        return [_opened(v, key) for v in value]
    return value


def generate_through_cli(out, *, sessions: int, transactions: int, seed: int) -> dict:
    """``lakehouse generate`` a small landing zone into ``out`` (one worker); its summary."""
    from click.testing import CliRunner

    from lakehouse.cli import cli

    args = ["generate", "--out", str(out), "--sessions", str(sessions)]
    args += ["--transactions", str(transactions), "--seed", str(seed), "--workers", "1"]
    generated = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert generated.exit_code == 0, generated.output
    return json.loads(generated.output)


def raw_zone(spark, settings, table) -> DataFrame:
    """A Bronze or quarantine table (``Table``) as the jobs read it: its encrypted personal
    fields in clear text again, under ``settings``' key."""
    from lakehouse.bronze.encryption import reveal_raw
    from lakehouse.io.delta import read_table
    from lakehouse.privacy import resolve_key

    rows = read_table(spark, settings.table_path(*table))
    return reveal_raw(rows, table[1], resolve_key(settings))
