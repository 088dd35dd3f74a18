"""Quarantine replay: after a fix, held rows go through the current rules again; those that
now pass enter Silver exactly once, the rest stay held, and conservation still holds."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from lakehouse.contract import TRANSACTION_COLUMNS, TRANSACTIONS, example_session_document
from lakehouse.io.delta import read_table
from lakehouse.pipeline import replay as replay_module
from lakehouse.pipeline.payments import build_silver_payments, ingest_payment_feed
from lakehouse.pipeline.replay import Selection, replay, summarize
from lakehouse.pipeline.sessions import build_silver_sessions, ingest_sessions
from lakehouse.reporting import print_conservation
from lakehouse.tables import QUARANTINE_RELEASES, SILVER_SESSIONS, SILVER_TRANSACTIONS
from tests.support.lake import csv_text, lake_settings

pytestmark = pytest.mark.integration

ALIAS_FIX = "payments.aliases={amount: [txn_amount]}"


def settings_for(root, *overrides):
    return lake_settings(root, "replay-test-key", *overrides)


def transaction(txn_id, amount):
    values = dict.fromkeys(TRANSACTION_COLUMNS, "x")
    values.update(
        transaction_id=txn_id,
        transaction_ts="2024-11-18T10:00:00Z",
        source_account_id="acc-1",
        amount=amount,
        channel="web",
    )
    return values


def land_transactions(root):
    folder = root / "landing" / "payments" / TRANSACTIONS
    folder.mkdir(parents=True)
    rows = [transaction(f"a{i}", f"{10 + i}.50") for i in range(3)]
    rows.append(transaction("a-neg", "-4.00"))  # wrong whatever the aliases say
    (folder / "a.csv").write_text(csv_text(TRANSACTION_COLUMNS, [list(r.values()) for r in rows]))
    # an upstream that renamed the amount column: every row lacks its amount
    renamed = ["txn_amount" if c == "amount" else c for c in TRANSACTION_COLUMNS]
    rows = [transaction(f"b{i}", f"{20 + i}.25") for i in range(3)]
    (folder / "b.csv").write_text(csv_text(renamed, [list(r.values()) for r in rows]))


def silver_amounts(spark, settings):
    df = read_table(spark, settings.table_path(*SILVER_TRANSACTIONS))
    return {r["transaction_id"]: str(r["amount"]) for r in df.collect()}


def conserved(spark, settings, capsys) -> str:
    assert print_conservation(spark, settings)
    return capsys.readouterr().out


def test_a_replay_after_an_alias_fix_moves_exactly_the_fixed_rows(spark, tmp_path, capsys):
    land_transactions(tmp_path)
    before = settings_for(tmp_path)
    ingest_payment_feed(spark, before, TRANSACTIONS)
    build_silver_payments(spark, before)
    assert set(silver_amounts(spark, before)) == {"a0", "a1", "a2"}
    held = {
        (r["reason"], r["held"]) for r in summarize(spark, before, (TRANSACTIONS,), Selection())
    }
    assert held == {("invalid_amount", 3), ("negative_amount", 1)}

    # before the fix a replay changes nothing
    (nothing,) = replay(spark, before, TRANSACTIONS, Selection(reasons=("invalid_amount",)))
    assert (nothing.selected, nothing.released) == (3, 0)
    assert nothing.still_held == {"invalid_amount": 3}

    # the alias fix; a crash after the replay's MERGE, before its releases are recorded
    fixed = settings_for(tmp_path, ALIAS_FIX)
    real_append = replay_module.append_once

    def crash_at_releases(df, path, *, app_id, batch_id, **kwargs):
        if app_id.startswith(QUARANTINE_RELEASES.key):
            raise RuntimeError("killed")
        return real_append(df, path, app_id=app_id, batch_id=batch_id, **kwargs)

    replay_module.append_once = crash_at_releases
    try:
        with pytest.raises(RuntimeError, match="killed"):
            replay(spark, fixed, TRANSACTIONS, Selection())
    finally:
        replay_module.append_once = real_append
    assert len(silver_amounts(spark, fixed)) == 6  # the MERGE was done

    # the next replay finishes the one cut short (its own selection) before its own
    resumed, again = replay(spark, fixed, TRANSACTIONS, Selection())
    assert resumed.resumed and resumed.replay_id == 1
    assert (resumed.selected, resumed.released, resumed.inserted) == (4, 3, 3)
    assert resumed.still_held == {"negative_amount": 1}
    assert (again.selected, again.released, again.still_held) == (1, 0, {"negative_amount": 1})
    assert silver_amounts(spark, fixed) == {
        "a0": "10.50",
        "a1": "11.50",
        "a2": "12.50",
        "b0": "20.25",
        "b1": "21.25",
        "b2": "22.25",
    }
    shown = conserved(spark, fixed, capsys)
    assert "OK   payment_transactions     7 = 7 = 6 + (4 - 3) + 0" in shown
    held = {
        (r["reason"], r["held"], r["released"])
        for r in summarize(spark, fixed, (TRANSACTIONS,), Selection())
    }
    assert held == {("invalid_amount", 0, 3), ("negative_amount", 1, 0)}
    releases = read_table(spark, fixed.table_path(*QUARANTINE_RELEASES)).collect()
    assert sorted(r["record_id"] for r in releases) == ["b0", "b1", "b2"]


def documents(prefix, n, created_ms):
    out = []
    for i in range(n):
        doc = example_session_document(changes={"id": f"{prefix}-{i}"})
        doc["createdDateTime"] = created_ms
        out.append(json.dumps(doc))
    return "\n".join(out) + "\n"


def test_a_replay_after_a_rule_change_releases_by_reason_and_batch(spark, tmp_path, capsys):
    folder = tmp_path / "landing" / "sessions"
    folder.mkdir(parents=True)
    settings = settings_for(tmp_path)
    (folder / "a.jsonl").write_text(documents("ok", 3, 1731880381293) + documents("old", 2, 0))
    ingest_sessions(spark, settings)
    build_silver_sessions(spark, settings)
    (folder / "b.jsonl").write_text(documents("later", 2, 915148800000))  # 1999-01-01
    ingest_sessions(spark, settings)
    build_silver_sessions(spark, settings)
    rows = summarize(spark, settings, ("sessions",), Selection())
    assert {(r["reason"], r["bronze_batch_id"], r["held"]) for r in rows} == {
        ("created_ts_out_of_range", 0, 2),
        ("created_ts_out_of_range", 1, 2),
    }

    # the lower bound moves to 1990: only batch 1 is chosen, and only its rows move
    widened = settings_for(tmp_path, "sessions.min_event_ts=1990-01-01T00:00:00Z")
    (report,) = replay(spark, widened, "sessions", Selection(batches=(1,)))
    assert (report.selected, report.released, report.inserted) == (2, 2, 2)
    silver = read_table(spark, widened.table_path(*SILVER_SESSIONS))
    assert silver.where(F.col("record_id").startswith("later")).count() == 2
    assert silver.count() == 5
    shown = conserved(spark, widened, capsys)
    assert "OK   sessions                 7 = 7 = 5 + (4 - 2) + 0" in shown
    # epoch 0 is still before the bound: replaying everything leaves those two held
    (rest,) = replay(spark, widened, "sessions", Selection())
    assert (rest.selected, rest.released, rest.still_held) == (
        2,
        0,
        {"created_ts_out_of_range": 2},
    )
