import pytest
from pyspark.sql import functions as F

from lakehouse.bronze.payments import (
    FEED_COLUMNS,
    _extra_keys,
    bronze_schema,
    map_header,
    normalize_header_name,
    positional_names,
    to_bronze_payments,
)
from lakehouse.io.file_check import check_csv
from lakehouse.io.landing import read_csv_positional

ALIASES = {"transaction_id": ["txn_id"], "amount": ["amt"], "transaction_ts": ["timestamp"]}


def test_header_names_fold_bom_case_and_spaces():
    assert normalize_header_name("\ufeffTransaction ID ") == "transaction_id"
    assert normalize_header_name("source-account-id") == "source_account_id"


def test_map_header_by_name_with_aliases_extras_and_missing():
    header = ["AMT", "txn_id", "timestamp", "channel", "loyalty_points", "currency", "amount"]
    mapping = map_header("payment_transactions", header, ALIASES)
    assert mapping.canonical == {
        "AMT": "amount",
        "txn_id": "transaction_id",
        "timestamp": "transaction_ts",
        "channel": "channel",
        "currency": "currency",
    }
    # an unknown column, and a second column claiming an already-mapped name, are kept aside
    assert mapping.extra == ("loyalty_points", "amount")
    assert set(mapping.missing) == set(FEED_COLUMNS["payment_transactions"]) - set(
        mapping.canonical.values()
    )


def test_a_column_named_twice_is_read_from_its_first_and_compared_with_the_others():
    header = ["txn_id", "amount", "AMT", "note", "note", "amount"]
    mapping = map_header("payment_transactions", header, ALIASES)
    assert mapping.positions["amount"] == 1
    assert mapping.duplicates == {"amount": (2, 5)}
    assert mapping.extra_positions == (2, 3, 4, 5)
    # extra keys stay unique: a name given twice is suffixed with its header position
    assert _extra_keys(mapping) == ["AMT", "note", "note#4", "amount"]


def test_duplicated_columns_that_disagree_are_ambiguous(spark, tmp_path):
    text = (
        "transaction_id,amount,amt\n"
        "same,12.50,12.50\n"
        "spaces,12.50, 12.50 \n"
        "blank,,7.00\n"
        "differ,12.50,99.00\n"
    )
    path = write(tmp_path / "d.csv", text)
    header = ["transaction_id", "amount", "amt"]
    bronze_df = to_bronze_payments(
        read_csv_positional(spark, [path], positional_names(header)),
        "payment_transactions",
        map_header("payment_transactions", header, ALIASES),
        0,
    )
    rows = {r["transaction_id"]: r for r in bronze_df.collect()}
    assert {k: r["parse_error"] for k, r in rows.items()} == {
        "same": None,
        "spaces": None,
        "blank": None,
        "differ": "ambiguous_column",
    }
    assert rows["blank"]["amount"] == "7.00" and rows["differ"]["is_malformed"]
    assert rows["differ"]["_extra_columns"] == {"amt": "99.00"}


def write(path, text, bom=False):
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return str(path)


def test_csv_rows_by_header_name_lossless(spark, tmp_path):
    text = (
        "txn_id,amt,channel,merchant_category,loyalty_points\n"
        'tx1,12.50,web,"toys, see ""notes""\nsecond line",7\n'
        "tx2,N/A,pos,food,\n"
    )
    path = write(tmp_path / "a.csv", text, bom=True)
    header = check_csv(path, (tmp_path / "a.csv").read_bytes()).header
    mapping = map_header("payment_transactions", header, ALIASES)
    rows_df = read_csv_positional(spark, [path], positional_names(header))
    bronze_df = to_bronze_payments(rows_df, "payment_transactions", mapping, batch_id=4)
    assert bronze_df.schema.fieldNames() == bronze_schema("payment_transactions").fieldNames()
    rows = bronze_df.orderBy("transaction_id").collect()
    assert [(r["transaction_id"], r["amount"], r["channel"]) for r in rows] == [
        ("tx1", "12.50", "web"),
        ("tx2", "N/A", "pos"),
    ]
    assert rows[0]["merchant_category"] == 'toys, see "notes"\nsecond line'
    assert rows[0]["_extra_columns"] == {"loyalty_points": "7"}
    assert rows[0]["transaction_ts"] is None and "transaction_ts" in rows[0]["_missing_columns"]
    assert not rows[0]["is_malformed"] and rows[0]["_batch_id"] == 4
    assert '"txn_id":"tx1"' in rows[0]["raw_record"]


def test_a_row_that_does_not_fit_the_header_is_kept_and_flagged(spark, tmp_path):
    path = write(tmp_path / "b.csv", "transaction_id,amount\ntx1,1.00\ntx2,2.00,surplus,values\n")
    header = ["transaction_id", "amount"]
    mapping = map_header("payment_transactions", header, {})
    bronze_df = to_bronze_payments(
        read_csv_positional(spark, [path], positional_names(header)),
        "payment_transactions",
        mapping,
        0,
    )
    flagged = bronze_df.where(F.col("is_malformed")).collect()
    assert len(flagged) == 1
    assert flagged[0]["parse_error"] == "malformed_csv_row"
    assert "surplus" in flagged[0]["raw_record"]


@pytest.mark.parametrize("feed", list(FEED_COLUMNS))
def test_every_feed_has_a_bronze_schema(feed):
    schema = bronze_schema(feed)
    assert schema.fieldNames()[: len(FEED_COLUMNS[feed])] == list(FEED_COLUMNS[feed])
