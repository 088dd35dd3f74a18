"""A corpus of hostile landed files: none stops the pipeline, none loses a record.

Each file is built here with a known content, so each assertion names what must become of it:
refused whole (with its reason in ``audit/refused_files`` and its complete records kept), or
read, with every record in Silver or in quarantine under a reason that says what is wrong.
"""

from __future__ import annotations

import gzip
import json
import random

import pytest
from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.contract import (
    ERROR_AMBIGUOUS_COLUMN,
    ERROR_MALFORMED_JSON,
    FILE_CORRUPT_GZIP,
    FILE_NOT_GZIP,
    FILE_TRUNCATED_GZIP,
    FILE_UNDECODABLE_TEXT,
    FILE_UNKNOWN_CSV_DIALECT,
    FILE_UNKNOWN_CSV_HEADER,
    TRANSACTION_COLUMNS,
    TRANSACTIONS,
    example_session_document,
)
from lakehouse.io.delta import is_delta_table, read_table
from lakehouse.io.landing import list_landed_files
from lakehouse.io.ledger import ledger_totals
from lakehouse.io.refused import plan_retry, read_refused
from lakehouse.pipeline.landed import RETRY_BATCH_BASE
from lakehouse.pipeline.payments import build_silver_payments, ingest_payment_feed
from lakehouse.pipeline.sessions import build_silver_sessions, ingest_sessions
from lakehouse.tables import (
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    FILE_RETRIES,
    QUARANTINE_SESSIONS,
    REFUSED_FILES,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    Table,
)
from tests.support.lake import NO_SUITES, raw_zone

pytestmark = pytest.mark.integration

BIG_LINE_BYTES = 50 * 1024 * 1024
NESTING = 5000


def session(record_id: str, **extra) -> str:
    doc = example_session_document(changes={"id": record_id, "sessionId": f"s-{record_id}"})
    return json.dumps({**doc, **extra})


def ndjson(prefix: str, n: int, **extra) -> str:
    return "".join(session(f"{prefix}-{i}", **extra) + "\n" for i in range(n))


def transaction(txn_id: str, **changes) -> dict[str, str]:
    row = {
        "transaction_id": txn_id,
        "transaction_ts": "2024-11-18T10:00:00Z",
        "source_account_id": "acct-1",
        "destination_account_id": "acct-2",
        "amount": "12.50",
        "currency": "USD",
        "channel": "web",
        "merchant_category": "travel",
        "card_number": "4111111111111111",
        "ip_address": "203.0.113.7",
        "device_id": "dev-1",
    }
    return {**row, **changes}


def rows(prefix: str, n: int) -> list[dict[str, str]]:
    return [transaction(f"{prefix}-{i}") for i in range(n)]


def csv_text(rows, delimiter=",", quote='"', columns=TRANSACTION_COLUMNS, eol="\n") -> str:
    def field(value: str) -> str:
        return f"{quote}{value}{quote}" if delimiter in value or quote == "'" else value

    lines = [delimiter.join(field(c) for c in columns)]
    lines += [delimiter.join(field(row[c]) for c in columns) for row in rows]
    return eol.join(lines) + eol


def _cut_gzip(text: str) -> bytes:
    data = gzip.compress(text.encode(), compresslevel=1)
    return data[: len(data) * 3 // 5]


def write_corpus(landing) -> dict:
    """Write every hostile file; returns what each must become."""
    sessions = landing / "sessions" / "2024" / "11" / "18"
    sessions.mkdir(parents=True)
    txns = landing / "payments" / TRANSACTIONS
    txns.mkdir(parents=True)
    rng = random.Random(7)
    garbage = bytes([rng.randrange(128, 256) for _ in range(4096)])

    files = {
        # --- sessions -------------------------------------------------------------------
        "s/good.ndjson.gz": gzip.compress(ndjson("good", 40).encode()),
        "s/cut.ndjson.gz": _cut_gzip(ndjson("cut", 400)),
        "s/fake.ndjson.gz": ndjson("fake", 5).encode(),
        "s/garbage.ndjson": garbage,
        "s/empty.ndjson": b"",
        "s/bad_utf8.ndjson": ndjson("utf", 3).encode() + b'{"id": "\xff\xfe"}\n' + b"{}\n",
        "s/crlf.ndjson": ndjson("crlf", 4).replace("\n", "\r\n").encode(),
        "s/unknown_fields.ndjson": ndjson("unk", 3, brandNewField={"x": [1, 2]}).encode(),
        "s/nul.ndjson": (session("nul-esc", note="a\u0000b") + "\n").encode()
        + b'{"id": "nul-raw", "note": "a\x00b"}\n',
        "s/deep.ndjson": (
            '{"id": "deep", "nested": ' + "[" * NESTING + "]" * NESTING + "}\n"
        ).encode(),
        "s/big_line.ndjson": (session("big", padding="x" * BIG_LINE_BYTES) + "\n").encode(),
        # --- payment transactions -------------------------------------------------------
        "t/comma.csv": csv_text([transaction(f"c-{i}") for i in range(5)]).encode(),
        "t/semicolon.csv": csv_text(
            [transaction(f"sc-{i}", amount="7.25") for i in range(4)], delimiter=";"
        ).encode(),
        "t/tab.csv": csv_text(rows("tab", 3), delimiter="\t").encode(),
        "t/pipe.csv": csv_text(rows("pipe", 3), delimiter="|").encode(),
        "t/single_quote.csv": csv_text(
            [transaction(f"sq-{i}", merchant_category="food, drinks") for i in range(2)],
            quote="'",
        ).encode(),
        "t/crlf.csv": csv_text([transaction(f"crlf-{i}") for i in range(3)], eol="\r\n").encode(),
        "t/header_only.csv": csv_text([]).encode(),
        "t/empty.csv": b"",
        "t/nul.csv": csv_text([transaction("nul-1", merchant_category="trav\x00el")]).encode(),
        "t/dup_header.csv": csv_text(
            [
                {**transaction("dup-same"), "amount_2": "12.50"},
                {**transaction("dup-diff"), "amount_2": "99.00"},
            ],
            columns=(*TRANSACTION_COLUMNS, "amount_2"),
        )
        .replace(",amount_2", ",amount", 1)
        .encode(),
        "t/bad_utf8.csv": csv_text([transaction(f"tu-{i}") for i in range(3)]).encode()
        + b"tu-x,\xff\xfe\n",
        "t/cut.csv.gz": _cut_gzip(csv_text([transaction(f"tcut-{i}") for i in range(600)])),
        "t/corrupt.csv.gz": _corrupt(csv_text([transaction(f"tcor-{i}") for i in range(600)])),
        "t/garbage.csv": garbage,
        "t/no_dialect.csv": b"transaction_id:amount:channel\nx:1:web\ny:2:pos\n",
        "t/no_header.csv": csv_text([transaction(f"nh-{i}") for i in range(3)])
        .split("\n", 1)[1]
        .encode(),
    }
    for name, data in files.items():
        folder = sessions if name.startswith("s/") else txns
        (folder / name[2:]).write_bytes(data)
    return files


def _corrupt(text: str) -> bytes:
    """A gzip whose checksum disagrees with its bytes."""
    data = bytearray(gzip.compress(text.encode(), compresslevel=1))
    data[-6] ^= 0x5A
    return bytes(data)


REFUSED = {
    "cut.ndjson.gz": FILE_TRUNCATED_GZIP,
    "fake.ndjson.gz": FILE_NOT_GZIP,
    "garbage.ndjson": FILE_UNDECODABLE_TEXT,
    "bad_utf8.ndjson": FILE_UNDECODABLE_TEXT,
    "bad_utf8.csv": FILE_UNDECODABLE_TEXT,
    "cut.csv.gz": FILE_TRUNCATED_GZIP,
    "corrupt.csv.gz": FILE_CORRUPT_GZIP,
    "garbage.csv": FILE_UNDECODABLE_TEXT,
    "no_dialect.csv": FILE_UNKNOWN_CSV_DIALECT,
    "no_header.csv": FILE_UNKNOWN_CSV_HEADER,
}


def _settings(root):
    return load_settings(
        "local",
        landing=str(root / "landing"),
        lake=str(root / "lake"),
        overrides=["privacy.hmac_key=hostile-test-key", NO_SUITES],
    )


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    files = write_corpus(root / "landing")
    settings = _settings(root)
    ingest_sessions(spark, settings)
    ingest_payment_feed(spark, settings, TRANSACTIONS)
    build_silver_sessions(spark, settings)
    build_silver_payments(spark, settings)
    refused = {
        r["path"].rsplit("/", 1)[-1]: r
        for r in read_refused(spark, settings.table_path(*REFUSED_FILES)).collect()
    }
    return {"settings": settings, "files": files, "refused": refused}


def table(spark, settings, t: Table):
    return read_table(spark, settings.table_path(*t))


def test_each_unreadable_file_is_refused_with_its_reason(lake):
    refused = lake["refused"]
    assert {name: r["reason"] for name, r in refused.items()} == REFUSED
    for name, row in refused.items():
        data = lake["files"][("s/" if "ndjson" in name else "t/") + name]
        assert row["size"] == len(data)
        assert len(row["sha256"]) == 64 and row["error"]
        assert row["source"] == ("sessions" if "ndjson" in name else TRANSACTIONS)


def test_files_are_conserved_in_the_ledger(spark, lake):
    settings = lake["settings"]
    ledger = settings.table_path(*BATCH_LEDGER)
    for source, prefix in (("sessions", "s/"), (TRANSACTIONS, "t/")):
        totals = ledger_totals(spark, ledger, "bronze", source)
        # a zero-byte file holds no record and Spark's file scans never list it
        landed = sum(1 for name, data in lake["files"].items() if name.startswith(prefix) and data)
        refused = sum(1 for r in lake["refused"].values() if r["source"] == source)
        assert totals["files_read"] == landed
        assert totals["files_refused"] == refused
        assert totals["files_ingested"] == landed - refused


def test_records_before_the_damage_are_kept_with_the_file_reason(spark, lake):
    settings = lake["settings"]
    bronze = table(spark, settings, BRONZE_SESSIONS)
    for name, reason in REFUSED.items():
        row = lake["refused"][name]
        feed = BRONZE_SESSIONS if "ndjson" in name else Table("bronze", TRANSACTIONS)
        kept = (
            table(spark, settings, feed)
            .where(F.col("_source_file") == row["path"])
            .where(F.col("_file_error") == reason)
            .count()
        )
        assert kept == row["records_kept"], name
    assert lake["refused"]["bad_utf8.ndjson"]["records_kept"] == 3
    assert lake["refused"]["bad_utf8.csv"]["records_kept"] == 3
    assert 0 < lake["refused"]["cut.ndjson.gz"]["records_kept"] < 400
    assert 0 < lake["refused"]["cut.csv.gz"]["records_kept"] < 600
    nothing_kept = ("fake.ndjson.gz", "garbage.ndjson", "garbage.csv", "no_dialect.csv")
    for name in (*nothing_kept, "corrupt.csv.gz"):
        assert lake["refused"][name]["records_kept"] == 0
    # the kept records of a cut file are whole ones, each in Silver
    silver_ids = {r["record_id"] for r in table(spark, settings, SILVER_SESSIONS).collect()}
    kept_ids = {
        r["record_id"] for r in bronze.where(F.col("_file_error") == FILE_TRUNCATED_GZIP).collect()
    }
    assert kept_ids and kept_ids <= silver_ids


def test_every_session_record_is_in_silver_or_quarantine(spark, lake):
    settings = lake["settings"]
    silver = {r["record_id"] for r in table(spark, settings, SILVER_SESSIONS).collect()}
    quarantine = raw_zone(spark, settings, QUARANTINE_SESSIONS)
    expected = (
        {f"good-{i}" for i in range(40)}
        | {f"crlf-{i}" for i in range(4)}
        | {f"unk-{i}" for i in range(3)}
        | {f"utf-{i}" for i in range(3)}
        | {"nul-esc", "big"}
    )
    assert expected <= silver
    # a raw NUL inside a JSON string and JSON nested thousands deep are malformed records
    reasons = {r["raw_record"][:30]: r["reason"] for r in quarantine.collect()}
    assert reasons.get('{"id": "nul-raw", "note": "a\x00b') == ERROR_MALFORMED_JSON
    assert ERROR_MALFORMED_JSON in {v for k, v in reasons.items() if k.startswith('{"id": "deep"')}
    bronze = table(spark, settings, BRONZE_SESSIONS).count()
    assert bronze == len(silver) + quarantine.count()


def test_every_csv_dialect_lands_by_id(spark, lake):
    settings = lake["settings"]
    silver = {r["transaction_id"]: r for r in table(spark, settings, SILVER_TRANSACTIONS).collect()}
    for prefix, n in (("c", 5), ("sc", 4), ("tab", 3), ("pipe", 3), ("sq", 2), ("crlf", 3)):
        assert {f"{prefix}-{i}" for i in range(n)} <= set(silver), prefix
    assert str(silver["sc-0"]["amount"]) == "7.25"
    assert silver["sq-1"]["merchant_category"] == "food, drinks"
    assert silver["crlf-2"]["device_id"] == "dev-1"
    # control characters are removed from values, by the rule the service shares
    assert silver["nul-1"]["merchant_category"] == "travel"


def test_a_duplicated_column_that_disagrees_is_ambiguous(spark, lake):
    settings = lake["settings"]
    silver = table(spark, settings, SILVER_TRANSACTIONS)
    silver_ids = {r["transaction_id"] for r in silver.collect()}
    quarantine = {
        r["record_id"]: r["reason"]
        for r in table(spark, settings, Table("quarantine", TRANSACTIONS)).collect()
    }
    assert "dup-same" in silver_ids
    assert quarantine.get("dup-diff") == ERROR_AMBIGUOUS_COLUMN


def test_transactions_conserved(spark, lake):
    settings = lake["settings"]
    bronze = table(spark, settings, Table("bronze", TRANSACTIONS)).count()
    silver = table(spark, settings, SILVER_TRANSACTIONS).count()
    quarantined = table(spark, settings, Table("quarantine", TRANSACTIONS)).count()
    totals = ledger_totals(spark, settings.table_path(*BATCH_LEDGER), "silver", TRANSACTIONS)
    assert bronze == silver + quarantined + totals.get("duplicates_removed", 0)
    assert (
        ledger_totals(spark, settings.table_path(*BATCH_LEDGER), "bronze", TRANSACTIONS)[
            "records_read"
        ]
        == bronze
    )


def _ingest_both(spark, settings):
    ingest_sessions(spark, settings)
    ingest_payment_feed(spark, settings, TRANSACTIONS)


def _retry_rows(spark, settings):
    if not is_delta_table(spark, settings.table_path(*FILE_RETRIES)):
        return []
    return table(spark, settings, FILE_RETRIES).orderBy("retry_id", "path").collect()


def test_a_replaced_refused_file_is_read_again_once(spark, tmp_path):
    sessions = tmp_path / "landing" / "sessions"
    txns = tmp_path / "landing" / "payments" / TRANSACTIONS
    sessions.mkdir(parents=True)
    txns.mkdir(parents=True)
    (sessions / "good.ndjson").write_text(ndjson("ok", 3))
    (sessions / "cut.ndjson.gz").write_bytes(_cut_gzip(ndjson("fix", 400)))
    (txns / "bad.csv").write_bytes(csv_text(rows("fx", 2)).encode() + b"fx-9,\xff\n")
    settings = _settings(tmp_path)
    _ingest_both(spark, settings)
    refused = read_refused(spark, settings.table_path(*REFUSED_FILES)).collect()
    assert sorted(r["reason"] for r in refused) == [FILE_TRUNCATED_GZIP, FILE_UNDECODABLE_TEXT]

    # a run with nothing replaced reads no refused file again
    _ingest_both(spark, settings)
    assert _retry_rows(spark, settings) == []

    # new uploads under the same names: the whole files
    (sessions / "cut.ndjson.gz").write_bytes(gzip.compress(ndjson("fix", 400).encode()))
    (txns / "bad.csv").write_text(csv_text(rows("fx", 3)))
    _ingest_both(spark, settings)
    retries = _retry_rows(spark, settings)
    assert [(r["source"], r["retry_id"]) for r in retries] == [
        (TRANSACTIONS, 0),
        ("sessions", 0),
    ]
    bronze = table(spark, settings, BRONZE_SESSIONS)
    fixed = bronze.where(F.col("_batch_id") >= RETRY_BATCH_BASE)
    assert fixed.where(F.col("_file_error").isNull()).count() == 400
    assert fixed.count() == 400
    txn_bronze = table(spark, settings, Table("bronze", TRANSACTIONS))
    assert txn_bronze.where(F.col("_batch_id") >= RETRY_BATCH_BASE).count() == 3
    # the refusal stays on record; the files add up, the retry counted as a read
    assert read_refused(spark, settings.table_path(*REFUSED_FILES)).count() == 2
    ledger = settings.table_path(*BATCH_LEDGER)
    totals = ledger_totals(spark, ledger, "bronze", "sessions")
    assert (totals["files_read"], totals["files_ingested"], totals["files_refused"]) == (3, 2, 1)

    build_silver_sessions(spark, settings)
    silver = {r["record_id"] for r in table(spark, settings, SILVER_SESSIONS).collect()}
    assert {f"fix-{i}" for i in range(400)} <= silver

    # once ingested, a file is like any other: a later upload under its name is not read
    (sessions / "cut.ndjson.gz").write_bytes(gzip.compress(ndjson("again", 2).encode()))
    _ingest_both(spark, settings)
    assert len(_retry_rows(spark, settings)) == 2
    assert table(spark, settings, BRONZE_SESSIONS).count() == bronze.count()


def test_a_retry_cut_short_is_finished_by_the_next_run(spark, tmp_path):
    folder = tmp_path / "landing" / "sessions"
    folder.mkdir(parents=True)
    (folder / "cut.ndjson.gz").write_bytes(_cut_gzip(ndjson("late", 300)))
    settings = _settings(tmp_path)
    ingest_sessions(spark, settings)
    (folder / "cut.ndjson.gz").write_bytes(gzip.compress(ndjson("late", 300).encode()))
    # a run that recorded its retry and died before reading it
    listed = list_landed_files(spark, settings.landing_path("sessions")).collect()
    plan_retry(
        spark, settings.table_path(*FILE_RETRIES), source="sessions", retry_id=0, files=listed
    )
    ingest_sessions(spark, settings)
    ingest_sessions(spark, settings)
    assert [r["retry_id"] for r in _retry_rows(spark, settings)] == [0]
    bronze = table(spark, settings, BRONZE_SESSIONS)
    assert bronze.where(F.col("_batch_id") == RETRY_BATCH_BASE).count() == 300
    ledger = read_table(spark, settings.table_path(*BATCH_LEDGER))
    assert ledger.where(F.col("batch_id") == RETRY_BATCH_BASE).count() == 1


def test_after_a_fix_here_every_refused_file_is_read_again(spark, tmp_path):
    folder = tmp_path / "landing" / "payments" / TRANSACTIONS
    folder.mkdir(parents=True)
    # a feed whose upstream renamed every column: no name is known yet
    renamed = [f"src_{c}" for c in TRANSACTION_COLUMNS]
    text = csv_text(rows("al", 3)).split("\n", 1)[1]
    (folder / "renamed.csv").write_text(",".join(renamed) + "\n" + text)
    (folder / "garbage.csv").write_bytes(b"\xff\xfe" * 64)
    settings = _settings(tmp_path)
    ingest_payment_feed(spark, settings, TRANSACTIONS)
    refused = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in _refused_rows(spark, settings)}
    assert refused == {
        "renamed.csv": FILE_UNKNOWN_CSV_HEADER,
        "garbage.csv": FILE_UNDECODABLE_TEXT,
    }
    # aliases now name the columns; the run that asks reads both files again
    fixed = load_settings(
        "local",
        landing=str(tmp_path / "landing"),
        lake=str(tmp_path / "lake"),
        overrides=[
            "privacy.hmac_key=hostile-test-key",
            NO_SUITES,
            "payments.aliases={" + ", ".join(f"{c}: [src_{c}]" for c in TRANSACTION_COLUMNS) + "}",
            "ingest.retry_refused=true",
        ],
    )
    ingest_payment_feed(spark, fixed, TRANSACTIONS)
    bronze = table(spark, settings, Table("bronze", TRANSACTIONS))
    ids = {
        r["transaction_id"] for r in bronze.where(F.col("_batch_id") >= RETRY_BATCH_BASE).collect()
    }
    assert ids == {f"al-{i}" for i in range(3)}
    again = [r for r in _refused_rows(spark, settings) if r["batch_id"] >= RETRY_BATCH_BASE]
    assert [(r["path"].rsplit("/", 1)[-1], r["reason"]) for r in again] == [
        ("garbage.csv", FILE_UNDECODABLE_TEXT)
    ]
    # without the setting, nothing unchanged is read again
    ingest_payment_feed(spark, settings, TRANSACTIONS)
    assert [r["retry_id"] for r in _retry_rows(spark, settings)] == [0, 0]


def _refused_rows(spark, settings):
    return read_refused(spark, settings.table_path(*REFUSED_FILES)).collect()
