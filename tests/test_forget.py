"""``lakehouse forget``: after erasing a customer and an account, no readable version of any
table, no data file in the lake and nothing in the tracking store holds their values or
tokens; every other row is unchanged; the conservation check, later runs and a rerun of the
request still work; the affected training run reports its erased rows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from pyspark.sql import functions as F

from lakehouse.cli import cli
from lakehouse.config import load_settings
from lakehouse.erasure import ERASURES
from lakehouse.erasure_registry import ERASED_TAG_PREFIX, INPUT_EXAMPLE_FILES, training_runs
from lakehouse.io.faults import FAILPOINT_ENV
from lakehouse.privacy import normalize_email_py, reveal_py, token_of
from lakehouse.tables import ALL_TABLES, BATCH_LEDGER, Table
from tests.support.lake import generate_through_cli, raw_zone

pytestmark = pytest.mark.integration

KEY = "forget-test-key"
# incremental Gold: Gold's inputs record their changes, so an erasure's DELETEs write change
# data files holding the erased rows, which must go as well
SETTINGS = [
    "--set",
    f"privacy.hmac_key={KEY}",
    "--set",
    "quality.suites=false",
    "--set",
    "gold.incremental=true",
]
TRAIN = ["--set", "ml.delivery.min_training_rows=20"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def leaves(value) -> list[str]:
    """Every string inside a row value (structs, arrays and maps flattened)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in leaves(k) + leaves(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in leaves(v)]
    if hasattr(value, "asDict"):
        return leaves(value.asDict(recursive=True))
    return []


class Footprint:
    """The subjects' values, found here from the raw records (not by the code under test):
    a row is theirs when a field equals one of them or its raw text holds an e-mail."""

    def __init__(self, emails: set[str], exact: set[str]):
        edge = r"[\w.%+@-]"
        self.patterns = [
            re.compile(rf"(?<!{edge}){re.escape(e.lower())}(?!{edge})") for e in emails
        ]
        self.exact = {v.strip().lower() for v in exact}

    def mentions(self, row) -> bool:
        for text in leaves(row):
            # the raw zones' ciphertexts by their clear text: an erasure must find those too
            low = reveal_py(text, KEY.encode()).strip().lower()
            if low in self.exact or any(p.search(low) for p in self.patterns):
                return True
        return False


def rows_of(spark, settings, table, version=None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(settings.table_path(*table)).collect()


def _versions(spark, path):
    return [r[0] for r in spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version").collect()]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("forget")
    landing = root / "landing"
    generate_through_cli(landing, sessions=900, transactions=900, seed=23)
    lake = root / "work" / "lake"
    ran = invoke("run", "--landing", str(landing), "--lake", str(lake), *SETTINGS, *TRAIN)
    assert ran.exit_code == 0, ran.output
    scored = invoke("score", "delivery", "--lake", str(lake), *SETTINGS)
    assert scored.exit_code == 0, scored.output
    return load_settings(
        "local", landing=str(landing), lake=str(lake), overrides=[f"privacy.hmac_key={KEY}"]
    )


def subject(spark, settings) -> tuple[str, str, str]:
    """A customer with several sessions (their e-mail as written, their id) and the account
    with the most transactions."""
    bronze = raw_zone(spark, settings, Table("bronze", "sessions"))
    customer = (
        bronze.where(F.col("source.customer.email").isNotNull())
        .groupBy(F.lower(F.trim("source.customer.email")).alias("email"))
        .agg(F.count("*").alias("n"), F.first("source.customer.customerId").alias("cid"))
        .orderBy(F.desc("n"), "email")
        .first()
    )
    transactions = spark.read.format("delta").load(
        settings.table_path("silver", "payment_transactions")
    )
    account = (
        transactions.groupBy("source_account_id")
        .count()
        .orderBy(F.desc("count"), "source_account_id")
        .first()[0]
    )
    return customer["email"], customer["cid"], account


def footprint(spark, settings, email: str, cid: str, account: str) -> Footprint:
    bronze = raw_zone(spark, settings, Table("bronze", "sessions"))
    mine = bronze.where(
        (F.lower(F.trim("source.customer.email")) == email)
        | (F.trim("source.customer.customerId") == cid)
    )
    cids = {r[0] for r in mine.select(F.trim("source.customer.customerId")).collect() if r[0]}
    record_ids = {r[0] for r in mine.select("record_id").collect()}
    txns = spark.read.format("delta").load(settings.table_path("bronze", "payment_transactions"))
    txids = {
        r[0].strip()
        for r in txns.where(
            (F.trim("source_account_id") == account) | (F.trim("destination_account_id") == account)
        )
        .select("transaction_id")
        .collect()
    }
    key = KEY.encode()
    tokens = {token_of(normalize_email_py(email), key)}
    return Footprint({email}, {cid, account, *cids, *record_ids, *txids, *tokens})


def test_forget_erases_a_customer_and_an_account_everywhere(spark, lake, tmp_path):
    settings = lake
    email, cid, account = subject(spark, settings)
    mark = footprint(spark, settings, email, cid, account)
    tables = [t for t in ALL_TABLES if Path(settings.table_path(*t)).exists()]
    before = {t: rows_of(spark, settings, t) for t in tables}
    assert sum(mark.mentions(r) for r in before[("bronze", "sessions")]) >= 2
    assert any(mark.mentions(r) for r in before[("gold", "payments_unified")])
    assert any(mark.mentions(r) for r in before[("gold", "delivery_predictions")])
    (run,) = [
        r for r in training_runs(settings) if r.data.params["table"] == "gold/delivery_features"
    ]

    # the e-mail as a user might type it; the account from a bulk file
    requests = tmp_path / "requests.csv"
    requests.write_text(f"kind,value\naccount_id,{account}\n")
    lake_args = ["--lake", settings.lake_root, *SETTINGS]
    request = ["forget", "--email", f" {email.upper()} ", "--file", str(requests), *lake_args]
    # the first attempt is killed once Bronze's erasure is committed, before its files are
    # removed and before Silver's: the rerun resumes it, counting nothing twice
    env = {**os.environ, "LAKEHOUSE_ENV": "local", FAILPOINT_ENV: "committed:bronze/sessions"}
    killed = subprocess.run(
        [sys.executable, "-m", "lakehouse", *request],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    forgot = invoke(*request)
    assert forgot.exit_code == 0, forgot.output
    assert "rows erased=" in forgot.output and email not in forgot.output

    # every other row is unchanged, and the subjects' rows are gone from the current versions
    for table in tables:
        after = rows_of(spark, settings, table)
        if table == BATCH_LEDGER:  # the erasure's own rows, which the conservation check reads
            after = [r for r in after if r["step"] != "erasure"]
        expected = [r for r in before[table] if not mark.mentions(r)]
        assert sorted(map(repr, after)) == sorted(map(repr, expected)), table
    # no version that can still be read shows them
    for table in tables:
        path = settings.table_path(*table)
        for version in _versions(spark, path):
            try:
                rows = rows_of(spark, settings, table, version)
            except Exception:
                continue
            assert not any(mark.mentions(r) for r in rows), f"{table}@v{version}"
    # no data file in the lake holds them, whichever version used it, change data included
    lake_root = Path(settings.lake_root)
    # (the erasure's DELETEs wrote change data: their commits name the files, "cdc" actions)
    commits = [
        json.loads(line)
        for log in lake_root.rglob("_delta_log/*.json")
        for line in log.read_text().splitlines()
    ]
    assert [c for c in commits if "cdc" in c], "no change data was written"
    for file in lake_root.rglob("*.parquet"):
        if "_delta_log" in file.parts or "_checkpoints" in str(file):
            continue
        assert not any(mark.mentions(r) for r in pq.read_table(file).to_pylist()), file
    # nor the tracking store (database and artifacts), the commits' descriptions (an erasure's
    # predicate names no value) or any other file beside the tables. Files' min/max statistics
    # in the log are a known limit (docs/PRIVACY.md).
    store = lake_root.parent
    token = token_of(normalize_email_py(email), KEY.encode())
    raw = [email.encode(), cid.lower().encode(), account.lower().encode(), token.encode()]
    for file in store.rglob("*"):
        if not file.is_file() or file.suffix in (".parquet", ".crc"):
            continue
        data = file.read_bytes().lower()
        if "_delta_log" in file.parts:
            data = b"\n".join(line for line in data.splitlines() if b'"commitinfo"' in line)
        assert not [value for value in raw if value in data], file

    # the training run and its model version are tagged; the model's input example is gone
    client_run = next(r for r in training_runs(settings) if r.info.run_id == run.info.run_id)
    erased = {k: v for k, v in client_run.data.tags.items() if k.startswith(ERASED_TAG_PREFIX)}
    assert erased and all(int(v) > 0 for v in erased.values())
    assert not [f for f in store.rglob("*") if f.name in INPUT_EXAMPLE_FILES]
    reproduced = invoke("reproduce", run.info.run_id, *lake_args)
    assert "erased by `lakehouse forget`" in reproduced.output, reproduced.output
    assert "Traceback" not in reproduced.output

    # the audit keeps tokens, never the values
    audit = spark.read.format("delta").load(settings.table_path(*ERASURES)).collect()
    assert {r["table"] for r in audit} >= {"bronze/sessions", "silver/payment_transactions"}
    recorded = json.loads(audit[0]["subject_tokens"])
    assert recorded["email"] == [token_of(normalize_email_py(email), KEY.encode())]
    assert not any(
        mark.mentions((r["subject_tokens"],)) and email in r["subject_tokens"] for r in audit
    )

    # conservation still holds, with the erased rows accounted for
    report = invoke("report", *lake_args)
    assert "FAIL" not in report.output and "erased rows included" in report.output, report.output

    # a rerun is a no-op, and later runs read past the erasure's commits
    versions = {t: _versions(spark, settings.table_path(*t))[0] for t in tables}
    again = invoke("forget", "--email", email, "--file", str(requests), *lake_args)
    assert again.exit_code == 0 and "no rows of these subjects" in again.output, again.output
    assert versions == {t: _versions(spark, settings.table_path(*t))[0] for t in tables}
    rerun = invoke("run", "--landing", settings.landing_root, *lake_args)
    assert rerun.exit_code == 0, rerun.output


def test_forget_needs_a_subject_and_rejects_a_bad_file(lake, tmp_path):
    lake_args = ["--lake", lake.lake_root, *SETTINGS]
    nobody = invoke("forget", *lake_args)
    assert nobody.exit_code != 0 and "name at least one subject" in nobody.output
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,value\nphone,555\n")
    refused = invoke("forget", "--file", str(bad), *lake_args)
    assert refused.exit_code != 0 and "line 2: unknown subject kind 'phone'" in refused.output
