"""The raw zones keep personal data encrypted: what Bronze writes holds none of it in clear text,
decrypts back to exactly what arrived, and only under the lake's key."""

import json
from datetime import datetime

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from lakehouse.bronze.encryption import SESSIONS, encrypt_raw, encrypted_columns, reveal_raw
from lakehouse.bronze.payments import map_header, positional_names, to_bronze_payments
from lakehouse.bronze.schemas import LANDING_FILE_SCHEMA
from lakehouse.bronze.sessions import to_bronze_sessions
from lakehouse.contract import ACCOUNTS, TRANSACTIONS, example_session_document
from lakehouse.io.landing import read_csv_positional
from lakehouse.privacy import (
    ENCRYPTED_PREFIX,
    RAW_ZONE_KEY_COLUMN,
    encrypt_py,
    encrypted,
    raw_zone_key,
    reveal_py,
    revealed,
    with_token_key,
)
from tests.support.key_material import explained, leaks

KEY = b"raw-zone-test-key-3c1d"
OTHER_KEY = b"another-lake-key-77aa"

EMAIL, PHONE, IP = "canary.person@example.org", "+1-202-555-0147", "198.51.100.23"
FIRST, LAST, STREET = "Canaryfirst", "Canarylast", "77 Canary Wharf Rd"
CARD, HOLDER = "4929123456781234", "Holder Canaryname"


def session_rows(spark):
    document = example_session_document(
        changes={
            "customer": {"email": EMAIL, "phone": PHONE, "firstName": FIRST, "lastName": LAST},
            "device": {"ipAddress": IP},
            "shipping": {"address": {"line1": STREET}},
        }
    )
    hit = {"_index": "sessions", "_id": "h1", "_source": document}
    text = "\n".join([json.dumps(hit), json.dumps(document), f'{{"broken": "{EMAIL}"'])
    files = spark.createDataFrame(
        [(text, "export.ndjson", datetime(2024, 11, 18, 3))], LANDING_FILE_SCHEMA
    )
    return files.transform(to_bronze_sessions)


def payment_rows(spark, tmp_path, feed, header, lines):
    path = tmp_path / f"{feed}.csv"
    path.write_text(",".join(header) + "\n" + "\n".join(lines) + "\n")
    mapping = map_header(feed, header, {})
    rows = read_csv_positional(spark, [str(path)], positional_names(header))
    return to_bronze_payments(rows, feed, mapping, batch_id=3)


def transactions(spark, tmp_path):
    header = ["transaction_id", "amount", "card_number", "ip_address", "customer_note"]
    lines = [f"tx1,12.50,{CARD},{IP},call {PHONE}", "tx2,3.00,,,", f"tx3,1.00,{CARD},x,y,surplus"]
    return payment_rows(spark, tmp_path, TRANSACTIONS, header, lines)


def accounts(spark, tmp_path):
    header = ["account_id", "holder_name", "email", "country"]
    return payment_rows(spark, tmp_path, ACCOUNTS, header, [f"A1,{HOLDER},{EMAIL},US"])


def as_text(df) -> str:
    return "\n".join(r[0] for r in df.select(F.to_json(F.struct("*"))).collect())


def sorted_rows(df, key):
    return sorted((r.asDict(recursive=True) for r in df.collect()), key=lambda r: str(r[key]))


CANARIES = (EMAIL, PHONE, IP, FIRST, LAST, STREET, CARD, HOLDER)


@pytest.mark.parametrize("source", [SESSIONS, TRANSACTIONS, ACCOUNTS])
def test_bronze_rows_hold_no_clear_pii_and_decrypt_to_what_arrived(spark, tmp_path, source):
    clear = {
        SESSIONS: lambda: session_rows(spark),
        TRANSACTIONS: lambda: transactions(spark, tmp_path),
        ACCOUNTS: lambda: accounts(spark, tmp_path),
    }[source]().cache()
    text = as_text(clear)
    present = [c for c in CANARIES if c in text]
    assert len(present) >= 2, present  # the clear rows do hold the canaries
    sealed = encrypt_raw(clear, source, KEY).cache()
    assert sealed.schema == clear.schema
    sealed_text = as_text(sealed)
    assert [c for c in CANARIES if c in sealed_text] == []
    assert ENCRYPTED_PREFIX in sealed_text
    key = "record_id" if source == SESSIONS else "raw_record"
    opened = reveal_raw(sealed, source, KEY)
    # the raw record is the sort key of the payment rows: sort the clear text of both sides
    assert sorted_rows(opened, key) == sorted_rows(clear, key)


def test_what_stays_readable_without_the_key(spark, tmp_path):
    clear = transactions(spark, tmp_path).cache()
    sealed = encrypt_raw(clear, TRANSACTIONS, KEY)
    rows = {r["transaction_id"]: r for r in sealed.collect()}
    # ids, amounts, lineage and the malformed flag: counts and replay need no key
    assert rows["tx1"]["amount"] == "12.50" and rows["tx3"]["is_malformed"]
    assert rows["tx1"]["_source_file"].endswith("payment_transactions.csv")
    # the unknown columns' names stay, their values do not
    assert set(rows["tx1"]["_extra_columns"]) == {"customer_note"}
    assert rows["tx1"]["_extra_columns"]["customer_note"].startswith(ENCRYPTED_PREFIX)
    # a null stays null; an empty value of a present column is encrypted like any other
    assert rows["tx2"]["card_number"] is None
    assert set(encrypted_columns(TRANSACTIONS)) >= {"card_number", "raw_record", "_extra_columns"}


def test_each_value_gets_its_own_iv(spark):
    frame = with_token_key(spark.createDataFrame([(EMAIL,), (EMAIL,)], "v string"), KEY)
    sealed = [encrypt_py(EMAIL, KEY), encrypt_py(EMAIL, KEY)]
    assert len(set(sealed)) == 2
    spark_sealed = [r[0] for r in frame.select(encrypted(F.col("v"))).collect()]
    assert len(set(spark_sealed)) == 2
    # Python and Spark read each other's ciphertexts
    assert {reveal_py(v, KEY) for v in spark_sealed} == {EMAIL}
    both = with_token_key(spark.createDataFrame([(v,) for v in sealed], "v string"), KEY)
    assert {r[0] for r in both.select(revealed(F.col("v"))).collect()} == {EMAIL}


def test_a_long_value_is_one_line_and_reads_back_on_both_sides(spark):
    long = f"{EMAIL} " * 40  # its base64 is far longer than a MIME line (76 characters)
    frame = with_token_key(spark.createDataFrame([(long,)], "v string"), KEY)
    (sealed,) = frame.select(encrypted(F.col("v"))).first()
    assert len(sealed) > 200 and "\n" not in sealed and "\r" not in sealed
    assert reveal_py(sealed, KEY) == long
    again = with_token_key(spark.createDataFrame([(sealed,)], "v string"), KEY)
    assert again.select(revealed(F.col("v"))).first()[0] == long


def test_a_value_written_before_encryption_reads_as_it_is(spark):
    frame = with_token_key(spark.createDataFrame([(EMAIL,), (None,)], "v string"), KEY)
    assert [r[0] for r in frame.select(revealed(F.col("v"))).collect()] == [EMAIL, None]
    assert reveal_py(EMAIL, KEY) == EMAIL and reveal_py(None, KEY) is None


def test_another_key_stops_the_query_without_showing_the_value(spark):
    sealed = encrypt_py(EMAIL, KEY)
    frame = with_token_key(spark.createDataFrame([(sealed,)], "v string"), OTHER_KEY)
    with pytest.raises(PySparkException) as raised:
        frame.select(revealed(F.col("v"))).collect()
    message = str(raised.value)
    assert "does not decrypt with this configuration's key" in message
    assert EMAIL not in message and sealed not in message
    with pytest.raises(ValueError, match="does not decrypt"):
        reveal_py(sealed, OTHER_KEY)
    damaged = sealed[:-6] + ("AAAA==" if not sealed.endswith("AAAA==") else "BBBB==")
    with pytest.raises(ValueError, match="does not decrypt"):
        reveal_py(damaged, KEY)


def test_no_plan_of_the_raw_zone_holds_its_key(spark, tmp_path):
    for df in (
        encrypt_raw(session_rows(spark), SESSIONS, KEY),
        reveal_raw(
            encrypt_raw(transactions(spark, tmp_path), TRANSACTIONS, KEY), TRANSACTIONS, KEY
        ),
    ):
        plan = explained(df)
        assert RAW_ZONE_KEY_COLUMN in plan  # the plan explained is the one that encrypts
        assert leaks(plan, KEY) == []
    # and the check can fail: the raw zones' key as a literal is found in the plan
    literal = spark.range(1).select(F.aes_encrypt(F.lit("x"), F.lit(raw_zone_key(KEY))))
    assert "raw zone key (hex)" in leaks(explained(literal), KEY)
