"""Schema drift on ingested batches: recorded per feed and batch in ``audit/schema_drift``,
reported on the step's line and by ``lakehouse report``, and a gate when configured."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from lakehouse.contract import TRANSACTION_COLUMNS, TRANSACTIONS, example_session_document
from lakehouse.io.delta import read_table
from lakehouse.pipeline.gates import gate_failures
from lakehouse.pipeline.payments import ingest_payment_feed
from lakehouse.pipeline.sessions import ingest_sessions
from lakehouse.reporting import print_schema_drift
from lakehouse.tables import BRONZE_SESSIONS, SCHEMA_DRIFT, Table
from tests.support.lake import csv_text, lake_settings, raw_zone

pytestmark = pytest.mark.integration


def settings_for(root, *overrides):
    return lake_settings(root, "drift-test-key", *overrides)


def documents(prefix, n, change=None, **extra):
    out = []
    for i in range(n):
        doc = example_session_document(changes={"id": f"{prefix}-{i}"})
        if change:
            change(doc)
        out.append({**doc, **extra})
    return out


def land(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def drift_rows(spark, settings, source):
    df = read_table(spark, settings.table_path(*SCHEMA_DRIFT)).where(F.col("source") == source)
    return df.orderBy("batch_id").collect()


def kinds(row):
    return {(d["kind"], d["field"]) for d in row["drift"]}


def test_session_batches_drift_against_the_contract_and_the_previous_batch(spark, tmp_path):
    folder = tmp_path / "landing" / "sessions"
    settings = settings_for(tmp_path)
    hits = [
        {"_index": "sessions", "_id": d["id"], "_source": d}
        for d in documents("hit", 2, loyalty={"points": 5, "tier": "A"})
    ]
    lines = [*hits, *documents("doc", 3)]
    land(folder, "a.ndjson", "".join(json.dumps(x) + "\n" for x in lines) + "{not json\n")
    first = ingest_sessions(spark, settings)
    assert first.schema_drift == ["new loyalty (object)"]

    def iso_time_no_event_zip_object(doc):
        doc["createdDateTime"] = "2024-11-17T22:33:01Z"
        del doc["eventType"]
        doc["shipping"]["address"]["zipCode"] = {"value": "97201"}

    land(
        folder,
        "b.ndjson",
        "".join(
            json.dumps(d) + "\n"
            for d in documents("b", 3, iso_time_no_event_zip_object, loyalty={"points": 1})
        ),
    )
    second = ingest_sessions(spark, settings)

    rows = drift_rows(spark, settings, "sessions")
    assert len(rows) == 2
    assert rows[0]["files"] == 1 and rows[0]["fields"]["loyalty.points"] == "number"
    assert kinds(rows[0]) == {("new", "loyalty")}
    assert rows[0]["fields"]["createdDateTime"] == "number"
    assert kinds(rows[1]) == {
        ("retyped", "createdDateTime"),  # a number in the previous batch, now text
        ("missing", "eventType"),  # required, in no record
        ("retyped", "shipping.address.zipCode"),  # an object where a value belongs
        ("missing", "loyalty.tier"),  # in the previous batch, gone while `loyalty` is there
    }
    assert not rows[1]["truncated"]
    assert "retyped createdDateTime (number in the previous batch -> string)" in (
        second.schema_drift
    )
    # unknown fields stay preserved: Bronze keeps every record's raw text (encrypted)
    bronze = raw_zone(spark, settings, BRONZE_SESSIONS)
    assert bronze.where(F.col("raw_record").contains('"loyalty"')).count() == 5
    # without fail_on_drift it is reported, not a gate failure
    assert gate_failures([second], settings.quality) == []


def transaction(txn_id, amount="12.50"):
    values = dict.fromkeys(TRANSACTION_COLUMNS, "x")
    values.update(
        transaction_id=txn_id, transaction_ts="2024-11-18T10:00:00Z", amount=amount, channel="web"
    )
    return values


def test_csv_batches_drift_by_header_and_kind_and_fail_the_gate_when_asked(spark, tmp_path, capsys):
    folder = tmp_path / "landing" / "payments" / TRANSACTIONS
    settings = settings_for(tmp_path, "quality.fail_on_drift=[new, retyped]")
    with_extra = [*TRANSACTION_COLUMNS, "loyalty_points", "Amount"]  # a copy of a known one
    land(
        folder,
        "a.csv",
        csv_text(
            with_extra,
            [[*transaction(f"a{i}").values(), "7", "12.50"] for i in range(4)],
        ),
    )
    without_channel = [c for c in TRANSACTION_COLUMNS if c != "channel"]
    land(
        folder,
        "b.csv",
        csv_text(
            without_channel, [[transaction(f"b{i}")[c] for c in without_channel] for i in range(2)]
        ),
    )
    first = ingest_payment_feed(spark, settings, TRANSACTIONS)
    (row,) = drift_rows(spark, settings, TRANSACTIONS)
    assert row["files"] == 2
    assert row["fields"]["amount"] == "number" and row["fields"]["loyalty_points"] == "extra"
    assert [(d["kind"], d["field"], d["observed"]) for d in row["drift"]] == [
        ("new", "loyalty_points", "extra"),
        ("missing", "channel", "absent in 1 of 2 files"),
    ]
    failures = gate_failures([first], settings.quality)
    assert len(failures) == 1 and "new loyalty_points" in failures[0]
    assert "missing channel" not in failures[0]  # a kind fail_on_drift does not list

    # the next batch: amounts arrive as words; the unknown column is not new any more
    land(
        folder,
        "c.csv",
        csv_text(
            with_extra,
            [[*transaction(f"c{i}", amount="twelve").values(), "1", "x"] for i in range(3)],
        ),
    )
    second = ingest_payment_feed(spark, settings, TRANSACTIONS)
    rows = drift_rows(spark, settings, TRANSACTIONS)
    assert kinds(rows[1]) == {("retyped", "amount")}
    assert second.drift_failures == ["retyped amount (number in the previous batch -> text)"]
    assert "schema drift: retyped amount" in second.summary()
    # every row still landed in Bronze
    assert read_table(spark, settings.table_path(*Table("bronze", TRANSACTIONS))).count() == 9

    print_schema_drift(spark, settings)
    shown = capsys.readouterr().out
    assert "Schema drift, latest batches that drifted (2; audit/schema_drift)" in shown
    assert "retyped amount (number in the previous batch -> text)" in shown


def test_csv_kinds_are_taken_on_clear_cells_and_only_ciphertext_is_cached(
    spark, tmp_path, monkeypatch
):
    """The raw zone's personal columns are encrypted before anything is cached (a cache may
    spill to disk), yet their kinds are those of what arrived: a card number stays a number."""
    from pyspark.sql.classic.dataframe import DataFrame  # the session's kind

    card, address = "4929123456781234", "198.51.100.23"
    cached: list[DataFrame] = []
    persist = DataFrame.persist

    def recording(self, *args, **kwargs):
        cached.append(self)
        return persist(self, *args, **kwargs)

    monkeypatch.setattr(DataFrame, "persist", recording)
    folder = tmp_path / "landing" / "payments" / TRANSACTIONS
    settings = settings_for(tmp_path)
    rows = [{**transaction(f"k{i}"), "card_number": card, "ip_address": address} for i in range(3)]
    land(folder, "a.csv", csv_text(TRANSACTION_COLUMNS, [list(r.values()) for r in rows]))
    ingest_payment_feed(spark, settings, TRANSACTIONS)
    monkeypatch.undo()

    assert cached  # the batch was cached, as ciphertext
    for frame in cached:
        text = "\n".join(r[0] for r in frame.select(F.to_json(F.struct("*"))).collect())
        assert card not in text and address not in text
    (row,) = drift_rows(spark, settings, TRANSACTIONS)
    assert row["fields"]["card_number"] == "number"
    assert row["fields"]["ip_address"] == "text"
    assert not [d for d in row["drift"] if d["field"] in ("card_number", "ip_address")]
    bronze = raw_zone(spark, settings, Table("bronze", TRANSACTIONS))
    assert sorted(r["card_number"] for r in bronze.collect()) == [card] * 3
