"""The online fraud features equal Spark's ``gold/payments_unified``, value for value.

The Gold twin (``lakehouse.gold.payments_online``) with its account history and velocity state.

Unit tests build Gold with Spark from small explicit frames and replay the same transactions
through the Python state; the replay tests run the real payments pipeline on a generated
landing zone and replay every Silver transaction, directly and through the API (whose scores
must equal batch scoring's)."""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

import serving.predict
from lakehouse.config import load_settings
from lakehouse.features import FeatureRows
from lakehouse.features.fraud_online import load_account_history, load_velocity_state
from lakehouse.features.velocity_store import RedisVelocityState, state_prefix
from lakehouse.generate import generate_payments_landing
from lakehouse.gold.payments import to_payments_unified
from lakehouse.gold.payments_online import (
    ACCOUNT_VERSION_COLUMNS,
    RISK_INTERVAL_COLUMNS,
    AccountHistory,
    VelocityState,
    feature_rows,
    frame,
    frame_dtypes,
    transaction_features,
)
from lakehouse.io.delta import read_table
from lakehouse.ml.promotion import promote
from lakehouse.ml.scoring import score_table
from lakehouse.ml.training import train_model
from lakehouse.pipeline import run_all
from lakehouse.silver.payments_online import parse_transaction
from lakehouse.tables import (
    GOLD_FRAUD_SCORES,
    GOLD_PAYMENTS_UNIFIED,
    SILVER_ACCOUNTS,
    SILVER_RISK_INTERVALS,
    SILVER_TRANSACTIONS,
)
from tests.support.gold import FAST_OVERRIDES, fraud_rows, write_gold
from tests.support.lake import NO_SUITES
from tests.support.payments_twins import (
    _CENT,
    CASES_SCHEMA,
    COLUMNS,
    DAY,
    DOUBLE_TOLERANCE,
    HOUR,
    MICRO,
    T0,
    TX_SCHEMA,
    WINDOWS,
    assert_equals_spark,
    by_id,
    change,
    iso,
    replay,
    request,
    spark_gold,
)
from tests.support.serving import serving_client, with_serve


def test_window_boundaries_and_same_instant_transactions(spark):
    t1 = T0 + 2 * HOUR
    requests = [
        request("a0", T0, "A", "B", "10.00"),
        request("a1-exactly-1h", T0 + HOUR, "A", "B", "20.00"),
        request("a2-1h-and-1us", T0 + HOUR + MICRO, "A", "B", "30.00"),
        request("a3-tie", t1, "A", "C", "40.00"),
        request("a4-tie", t1, "A", "D", "50.00"),
        request("a5-after-tie", t1 + MICRO, "A", "B", "60.00"),
        request("a6-exactly-24h", T0 + DAY, "A", "B", "70.00"),
        request("a7-exactly-7d", T0 + 7 * DAY, "A", "B", "80.00"),
        request("a8-7d-and-1s", T0 + 7 * DAY + timedelta(seconds=1), "A", "B", "90.00"),
        request("b0", T0 + HOUR, "B", "A", "5.00"),  # another account: its own windows
    ]
    gold_df, accounts = spark_gold(spark, requests)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    # the frame's lower bound is inclusive: a transaction exactly one window before counts
    assert rows["a1-exactly-1h"]["src_txn_count_1h"] == 1
    assert rows["a2-1h-and-1us"]["src_txn_count_1h"] == 1  # a1 only; a0 is 1h + 1 µs before
    assert rows["a6-exactly-24h"]["src_txn_count_24h"] == 6
    assert rows["a7-exactly-7d"]["src_txn_count_7d"] == 7
    assert rows["a8-7d-and-1s"]["src_txn_count_7d"] == 7
    # two transactions at one instant do not see each other; the next one sees both
    assert rows["a3-tie"]["src_prior_txn_count"] == rows["a4-tie"]["src_prior_txn_count"] == 3
    # both tied ones, and a2 exactly one hour before
    assert rows["a5-after-tie"]["src_txn_amount_1h"] == Decimal("120.00")


def test_first_pair_and_zscore_edges(spark):
    requests = [
        # one prior amount: no standard deviation, so no z-score
        request("p0", T0, "P", "Q", "10.00"),
        request("p1", T0 + HOUR, "P", "Q", "10.01"),
        # mean of 10.00 and 10.01 is exactly half a cent: Spark's rounding decides
        request("p2", T0 + 2 * HOUR, "P", None, "12.00"),
        request("p3", T0 + 3 * HOUR, "P", None, "12.00"),  # a null payee is a payee too
        # same instant, same new payee: both are first pairs
        request("p4", T0 + 4 * HOUR, "P", "R", "1.00"),
        request("p5", T0 + 4 * HOUR, "P", "R", "2.00"),
        # equal prior amounts: standard deviation 0, z-score null
        request("e0", T0, "E", "Q", "7.77"),
        request("e1", T0 + HOUR, "E", "Q", "7.77"),
        request("e2", T0 + 2 * HOUR, "E", "Q", "7.77"),
        request("e3", T0 + 3 * HOUR, "E", "Q", "9.99"),
    ]
    gold_df, accounts = spark_gold(spark, requests)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    assert rows["p1"]["src_amount_mean_before"] == 10.0
    assert rows["p1"]["src_amount_zscore"] is None
    # the exact mean 10.005 would round up; Spark's double sum is 20.009999999999998, so the
    # mean rounds down, and the online twin (checked equal to Spark above) does the same
    exact = ((Decimal("10.00") + Decimal("10.01")) / 2).quantize(_CENT, ROUND_HALF_UP)
    assert rows["p2"]["src_amount_mean_before"] != float(exact)
    assert [rows[k]["is_first_pair"] for k in ("p2", "p3", "p4", "p5")] == [
        True,
        False,
        True,
        True,
    ]
    assert rows["e2"]["src_amount_zscore"] is None and rows["e3"]["src_amount_zscore"] is None


def test_duplicate_id_is_counted_once_and_features_do_not_mutate(spark):
    requests = [
        request("d0", T0, "D", "Q", "10.00"),
        request("d1", T0 + HOUR, "D", "Q", "30.00"),
        request("d2", T0 + 2 * HOUR, "D", "R", "50.00"),
    ]
    gold_df, accounts = spark_gold(spark, requests)
    state = VelocityState(WINDOWS)
    online = []
    for req in requests:
        before = transaction_features(req, accounts, state, WINDOWS)
        assert transaction_features(req, accounts, state, WINDOWS) == before
        assert state.observe(req) is True
        assert state.observe(req) is False  # a client retry
        # a retried request gets the features its first attempt got
        assert transaction_features(req, accounts, state, WINDOWS) == before
        online.append(before)
    assert_equals_spark(spark, online, gold_df)


def test_accounts_and_risk_as_of_the_transaction(spark):
    changes = [
        change("A", T0 - 30 * DAY, kyc="pending"),
        change("A", T0, kyc="verified", country="DE"),  # in effect from exactly T0
        change("A", T0 + DAY, kyc="failed", country="DE"),  # the previous ends exactly here
        change("L", T0 - DAY, created=date(2024, 3, 5)),  # created after some transactions
        change("N", T0 + HOUR),  # opens later
    ]
    risk = [
        ("A", T0 - DAY, 1, 0.9, "chargebacks"),
        ("A", T0 + DAY, 0, 0.1, "cleared"),  # cleared at exactly a transaction's instant
        ("N", T0, 1, 0.7, "mule"),
    ]
    requests = [
        request("r0", T0 - 40 * DAY, "A", "N", "1.00"),  # before any version or flag
        request("r1", T0 - MICRO, "A", "N", "2.00"),
        request("r2", T0, "A", "L", "3.00"),
        request("r3", T0 + DAY, "A", "L", "4.00"),
        request("r4", T0 + 10 * DAY, "L", "A", "5.00"),  # L created 2024-03-05: age 6
        request("r5", T0, "L", "X-unknown", "6.00"),  # created_date after the transaction
        request("r6", T0 + 2 * HOUR, "X-unknown", "N", "7.00"),
        request("r7", T0 + 2 * HOUR, "N", None, "8.00"),
    ]
    gold_df, accounts = spark_gold(spark, requests, changes, risk)
    online, _ = replay(requests, accounts)
    assert_equals_spark(spark, online, gold_df)

    rows = by_id(online)
    assert rows["r5"]["src_kyc_status"] == "verified" and rows["r5"]["src_account_age_days"] is None
    assert rows["r6"]["src_kyc_status"] is None and rows["r6"]["src_risk_flag"] == 0
    assert (rows["r2"]["src_country"], rows["r3"]["src_kyc_status"]) == ("DE", "failed")
    assert [rows[k]["src_risk_flag"] for k in ("r0", "r1", "r2", "r3")] == [0, 1, 1, 0]
    unknown = accounts.as_of("X-unknown", T0)
    assert (unknown.account_type, unknown.created_date, unknown.risk_flag) == (None, None, 0)
    assert accounts.as_of("A", (T0 + DAY).replace(tzinfo=None)).kyc_status == "failed"


def test_late_arrivals_and_eviction_keep_features_exact(spark):
    rng = random.Random(7)
    every = timedelta(minutes=20)
    requests = [
        request(
            f"h{i:04d}",
            T0 + i * every,
            "H",
            f"P{rng.randrange(5)}",
            f"{rng.randrange(100, 9999) / 100:.2f}",
        )
        for i in range(3 * 24 * 10)  # ten days, three an hour
    ]
    # each arrives up to 50 minutes late (within max_lateness_s), so neighbours swap
    arrival = sorted(
        requests,
        key=lambda r: (
            datetime.fromisoformat(r["transaction_ts"]) + timedelta(minutes=rng.randrange(50))
        ),
    )
    assert arrival != requests
    gold_df, accounts = spark_gold(spark, requests)
    in_order, ordered_state = replay(requests, accounts)
    late_state = VelocityState(WINDOWS)
    for req in arrival:
        late_state.observe(req)
    # held: the largest window plus the lateness allowance (7 days + 1 hour), not ten days
    bound = (7 * DAY + HOUR) // every + 1
    assert ordered_state.held_transactions <= bound < len(requests)
    assert late_state.held_transactions <= bound
    for minutes in (0, 1, 59):  # probes after the newest, in and out of the hour window
        probe = request(
            "probe", T0 + len(requests) * every + timedelta(minutes=minutes), "H", "P1", "42.00"
        )
        assert transaction_features(probe, accounts, late_state) == transaction_features(
            probe, accounts, ordered_state
        )
    assert_equals_spark(spark, in_order, gold_df)


def test_a_batch_held_as_columns_equals_one_transaction_at_a_time():
    """``feature_rows`` (the service's path) against ``transaction_features`` then ``observe``
    per record, on a book with late arrivals, a repeated id, same-instant transactions,
    unknown accounts, null destinations and accounts that change within it."""
    rng = random.Random(11)
    versions = pd.DataFrame(
        [
            ("A", "personal", "US", "pending", date(2023, 1, 1), T0 - 30 * DAY, T0 + DAY),
            ("A", "business", "DE", "verified", date(2023, 1, 1), T0 + DAY, None),
            ("B", "personal", "FR", "verified", date(2024, 3, 20), T0 - DAY, None),
        ],
        columns=ACCOUNT_VERSION_COLUMNS,
    )
    risk = pd.DataFrame(
        [("A", 1, T0, T0 + 2 * DAY), ("B", 1, T0 + DAY, None)], columns=RISK_INTERVAL_COLUMNS
    )
    accounts = AccountHistory(versions, risk)
    requests = []
    for i in range(400):
        ts = T0 + timedelta(minutes=17 * i - rng.randrange(90))  # up to 90 minutes late
        source = rng.choice(["A", "B", "C-unknown"])
        payee = rng.choice(["A", "B", "P1", None])
        requests.append(
            request(f"t{i:03d}", ts, source, payee, f"{rng.randrange(1, 9999)}.{i % 100:02d}")
        )
    requests[200] = {**requests[199], "amount": "1.00"}  # a repeated id: counted once
    requests[300]["transaction_ts"] = requests[301]["transaction_ts"]  # the same instant
    parsed = [parse_transaction(r) for r in requests]
    history = pd.DataFrame(fraud_history(rng))

    for observe in (True, False):
        state, one_by_one = VelocityState(WINDOWS), VelocityState(WINDOWS)
        state.warm_start(history)
        one_by_one.warm_start(history)
        rows = feature_rows(parsed, accounts, state, WINDOWS, observe=observe)
        expected = []
        for record in parsed:
            expected.append(transaction_features(record, accounts, one_by_one, WINDOWS))
            if observe:
                one_by_one.observe(record)
        assert list(rows) == expected
        assert (rows[0], rows[-1], rows[5:8]) == (expected[0], expected[-1], expected[5:8])
        assert tuple(rows.columns) == tuple(expected[0]) and len(rows) == len(parsed)
        assert state.held_transactions == one_by_one.held_transactions
        if observe:
            observed = expected
    # what the book exercises (counted, not assumed)
    assert sum(r["src_txn_count_1h"] > 0 for r in observed) > 10
    assert {r["src_risk_flag"] for r in observed} == {0, 1}
    assert any(r["src_kyc_status"] is None for r in observed)
    assert sum(not r["is_first_pair"] for r in observed) > 100


def fraud_history(rng: random.Random) -> list[dict]:
    """Silver transactions of the day before the book, for a warm start."""
    return [
        {
            "transaction_id": f"h{i:03d}",
            "transaction_ts": T0 - DAY + timedelta(minutes=7 * i),
            "source_account_id": rng.choice(["A", "B"]),
            "destination_account_id": rng.choice(["P1", None]),
            "amount": Decimal(rng.randrange(100, 99_999)).scaleb(-2),
        }
        for i in range(150)
    ]


def test_feature_rows_are_columns_and_rows_alike():
    rows = FeatureRows({"a": [1, 2, 3], "b": ("x", "y", None)})
    assert len(rows) == 3 and bool(rows) and not FeatureRows({})
    assert rows[1] == {"a": 2, "b": "y"} and rows[-1] == {"a": 3, "b": None}
    assert rows[:2] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}] == list(rows)[:2]
    with pytest.raises(IndexError):
        rows[3]
    with pytest.raises(ValueError, match="different lengths"):
        FeatureRows({"a": [1], "b": [1, 2]})


REPLAY_TRANSACTIONS = 10_000


BATCH = 1_000


def as_request(row) -> dict:
    """A Silver row as the JSON request that would have carried it."""
    return {
        "transaction_id": row["transaction_id"],
        "transaction_ts": iso(row["transaction_ts"]),
        "source_account_id": row["source_account_id"],
        "destination_account_id": row["destination_account_id"],
        "amount": str(row["amount"]),
        "currency": row["currency"],
        "channel": row["channel"],
        "merchant_category": row["merchant_category"],
    }


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud_online")
    generate_payments_landing(
        root / "landing",
        transactions=REPLAY_TRANSACTIONS,
        seed=23,
        anomaly_rate=0.03,
        days=45,
        workers=1,
    )
    settings = load_settings(
        "local",
        landing=str(root / "landing"),
        lake=str(root / "lake"),
        overrides=["privacy.hmac_key=fraud-online-test-key", NO_SUITES],
    )
    run_all(spark, settings, source="payments")
    silver = DeltaTable(settings.table_path(*SILVER_TRANSACTIONS)).to_pyarrow_table().to_pylist()
    silver.sort(key=lambda r: (r["transaction_ts"], r["transaction_id"]))
    gold_table = DeltaTable(settings.table_path(*GOLD_PAYMENTS_UNIFIED))
    gold = by_id(gold_table.to_pyarrow_table(columns=COLUMNS).to_pylist())
    gold_dtypes = gold_table.to_pandas(columns=COLUMNS).dtypes.astype(str).to_dict()
    recorded = json.loads(gold_table.history(1)[0]["userMetadata"])["source_versions"]
    return {
        "settings": settings,
        "silver": silver,
        "gold": gold,
        "gold_dtypes": gold_dtypes,
        "recorded": recorded,
    }


def same_value(value, want) -> bool:
    """An online frame value against Gold's (as Arrow gives it), strictly typed."""
    if isinstance(value, float) and math.isnan(value):
        value = None  # pandas' null in a float column
    elif isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(want, float) and isinstance(value, float):
        return math.isclose(value, want, rel_tol=0, abs_tol=DOUBLE_TOLERANCE)
    if isinstance(want, int) and not isinstance(want, bool) and isinstance(value, float):
        return value == want  # a nullable int column is float64 in pandas
    if isinstance(want, Decimal):
        return isinstance(value, Decimal) and str(value) == str(want)  # scale included
    return type(value) is type(want) and value == want


def mismatches(online: pd.DataFrame, gold: dict) -> dict[str, list]:
    """Per column, the first rows whose online value differs from Gold's, and how many."""
    found: dict[str, list] = {}
    for row in online.to_dict("records"):
        expected = gold[row["transaction_id"]]
        for column in COLUMNS:
            if not same_value(row[column], expected[column]):
                found.setdefault(column, []).append(
                    (row["transaction_id"], row[column], expected[column])
                )
    return {c: [*rows[:5], f"{len(rows)} rows"] for c, rows in found.items()}


@pytest.mark.integration
def test_replay_of_silver_equals_gold_row_for_row(lake):
    settings, silver, gold = lake["settings"], lake["silver"], lake["gold"]
    accounts = load_account_history(settings)
    assert accounts.table_versions == {
        SILVER_ACCOUNTS.key: lake["recorded"][SILVER_ACCOUNTS.key],
        SILVER_RISK_INTERVALS.key: lake["recorded"][SILVER_RISK_INTERVALS.key],
    }
    state = VelocityState(settings.payments.velocity_windows_s)
    requests = [as_request(r) for r in silver]
    started = time.perf_counter()
    batches = [
        frame(requests[i : i + BATCH], accounts, state, observe=True)
        for i in range(0, len(requests), BATCH)
    ]
    per_record_us = (time.perf_counter() - started) / len(requests) * 1e6
    print(f"\nonline features + observe: {per_record_us:.1f} us per record, batches of {BATCH}")
    online = pd.concat(batches, ignore_index=True)

    assert sorted(online["transaction_id"]) == sorted(gold)
    assert online.dtypes.astype(str).to_dict() == frame_dtypes(settings.payments.velocity_windows_s)
    # the dtypes a Delta reader gives Gold (every nullable column holds a null in this book)
    gold_dtypes = lake["gold_dtypes"]
    assert {c: t for c, t in frame_dtypes(WINDOWS).items() if gold_dtypes[c] != t} == {}
    assert mismatches(online, gold) == {}
    # the data exercise what the features are about (counted from Gold, not assumed)
    rows = gold.values()
    assert sum(r["src_txn_count_1h"] > 0 for r in rows) > 50
    assert sum(r["src_amount_zscore"] is None and r["src_prior_txn_count"] == 1 for r in rows) > 0
    assert sum(not r["is_first_pair"] for r in rows) > 1_000
    assert sum(r["src_kyc_status"] is None for r in rows) > 0
    assert sum(r["src_risk_flag"] == 1 or r["dst_risk_flag"] == 1 for r in rows) > 0
    assert (
        sum(r["src_account_age_days"] is None and r["src_kyc_status"] is not None for r in rows)
        >= 0
    )


@pytest.mark.integration
def test_warm_start_mid_stream_continues_like_gold(lake):
    settings, silver, gold = lake["settings"], lake["silver"], lake["gold"]
    cut = len(silver) * 9 // 10
    state = VelocityState(settings.payments.velocity_windows_s)
    assert state.warm_start(pd.DataFrame(silver[:cut])) == cut
    online = frame(
        [as_request(r) for r in silver[cut:]], load_account_history(settings), state, observe=True
    )
    assert len(online) == len(silver) - cut
    assert mismatches(online, gold) == {}


@pytest.mark.integration
def test_warm_start_from_silver_scores_new_transactions_like_replay_and_spark(spark, lake):
    settings, silver = lake["settings"], lake["silver"]
    accounts = load_account_history(settings)
    warm = load_velocity_state(settings)
    assert warm.source_version == lake["recorded"][SILVER_TRANSACTIONS.key]
    _, replayed = replay([as_request(r) for r in silver], accounts)

    newest = silver[-1]
    # one new transaction per source account, so that they do not see each other in Spark
    counts = pd.Series([r["source_account_id"] for r in silver]).value_counts()
    busiest = [a for a in counts.index if a != newest["source_account_id"]][:3]
    payee = next(
        r["destination_account_id"]
        for r in reversed(silver)
        if r["source_account_id"] == busiest[0]
    )
    new = [
        # exactly one hour after the newest transaction, from its account: on the boundary
        request(
            "new-0", newest["transaction_ts"] + HOUR, newest["source_account_id"], payee, "55.55"
        ),
        request(
            "new-1",
            newest["transaction_ts"] + timedelta(minutes=10),
            busiest[0],
            payee,
            120,
        ),
        request(
            "new-2", newest["transaction_ts"], busiest[1], "AC-NEW-PAYEE", "0.50", channel="API"
        ),
        request("new-3", newest["transaction_ts"] + MICRO, busiest[2], None, "9999.99"),
    ]
    online = [transaction_features(t, accounts, warm) for t in new]
    assert online == [transaction_features(t, accounts, replayed) for t in new]

    # Spark, with the new transactions appended to Silver, agrees too
    new_df = spark.createDataFrame(
        [
            (
                p.transaction_id,
                p.transaction_ts,
                p.source_account_id,
                p.destination_account_id,
                p.amount,
                p.currency,
                p.channel,
                p.merchant_category,
            )
            for p in map(parse_transaction, new)
        ],
        TX_SCHEMA,
    )
    tables = {
        t: read_table(spark, settings.table_path(*t))
        for t in (SILVER_TRANSACTIONS, SILVER_ACCOUNTS, SILVER_RISK_INTERVALS)
    }
    gold_df = (
        to_payments_unified(
            tables[SILVER_TRANSACTIONS].unionByName(new_df, allowMissingColumns=True),
            tables[SILVER_ACCOUNTS],
            tables[SILVER_RISK_INTERVALS],
            spark.createDataFrame([], CASES_SCHEMA),  # labels are not features
            cutoff=datetime(2030, 1, 1),
            maturity_days=60,
            velocity_windows=settings.payments.velocity_windows_s,
        )
        .where(F.col("transaction_id").startswith("new-"))
        .select(*COLUMNS)
    )
    assert_equals_spark(spark, online, gold_df)
    assert sum(r["src_txn_count_7d"] for r in online) > 0


@pytest.mark.integration
@pytest.mark.parametrize("store", ["process", "redis"])
def test_replaying_the_history_through_the_api_gives_golds_features_and_batch_scores(
    spark, lake, tmp_path, monkeypatch, request, store
):
    """A registered fraud model scores this lake's Gold in batch (``lakehouse score``); the
    service, from an empty velocity state, is sent the whole history in order: the features it
    computes equal Gold's and its scores equal the batch table's, transaction by transaction.

    With the state in Redis (``serve.online_store.url``), two service instances share it and
    take the batches in turn (a round-robin balancer), and a third one started afterwards (a
    restart) finds the whole state there.

    The 45 generated days hold too few confirmed cases to train on (labels come 30-60 days
    late), so the model is trained on the ML tests' labelled Gold in another lake that shares
    this one's registry: same features, same code paths.
    """
    registry = [
        f"ml.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"ml.artifact_root={tmp_path}/artifacts",
    ]
    training = load_settings(
        "local", lake=str(tmp_path / "training"), overrides=[*FAST_OVERRIDES, *registry]
    )
    windows = training.payments.velocity_windows_s
    write_gold(spark, training, GOLD_PAYMENTS_UNIFIED, fraud_rows(6000, seed=2, windows=windows))
    trained = train_model(spark, training, "fraud")
    promote(spark, training, "fraud")
    base = lake["settings"]
    settings = load_settings(
        "local",
        landing=base.landing_root,
        lake=base.lake_root,
        overrides=[
            "privacy.hmac_key=fraud-online-test-key",
            *FAST_OVERRIDES,
            *registry,
            "serve.tasks=[fraud]",
        ],
    )
    shared = None
    if store == "redis":
        redis_server = request.getfixturevalue("redis_server")
        online = settings.serve.online_store.model_copy(
            update={"url": redis_server.url, "prefix": f"test-{tmp_path.name}"}
        )
        settings = with_serve(settings, online_store=online)
        lateness = settings.serve.velocity_max_lateness_s
        prefix = state_prefix(online.prefix, settings.lake_root, windows, lateness)
        # replay from nothing, not from the warm start (which already holds this history)
        shared = RedisVelocityState(redis_server.client(), prefix, windows)
        shared.client.set(f"{prefix}:fed", "1")
    scored = score_table(spark, settings, "fraud")
    assert scored.model_version == trained.model_version
    batch = by_id(
        DeltaTable(settings.table_path(*GOLD_FRAUD_SCORES))
        .to_pyarrow_table(columns=["transaction_id", "fraud_probability", "is_fraud"])
        .to_pylist()
    )

    computed: list[dict] = []

    def spy(*args, **kwargs):
        rows = feature_rows(*args, **kwargs)
        computed.extend(rows)
        return rows

    monkeypatch.setattr(serving.predict, "feature_rows", spy)
    requests = [as_request(r) for r in lake["silver"]]
    answers = {}
    replicas = 1 if shared is None else 2
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(serving_client(settings)) for _ in range(replicas)]
        if shared is None:
            features = clients[0].app.state.service.features
            # replay from nothing, not from the warm start (which already holds this history)
            features.velocity = VelocityState(settings.payments.velocity_windows_s)
        for turn, start in enumerate(range(0, len(requests), BATCH)):
            client = clients[turn % replicas]
            response = client.post("/v1/fraud/score", json=requests[start : start + BATCH])
            assert response.status_code == 200, response.text
            assert response.json()["model"]["version"] == trained.model_version
            answers.update({a["transaction_id"]: a for a in response.json()["scores"]})
        held = clients[0].app.state.service.features.velocity.held_transactions
        assert held > 0
    if shared is not None:  # a restarted replica: nothing lost, nothing fed again
        with serving_client(settings) as client:
            velocity = client.app.state.service.features.velocity
            assert isinstance(velocity, RedisVelocityState)
            # (counted now: each replica's own count is as of its last request)
            assert velocity.held_transactions == shared.held_transactions >= held

    gold = lake["gold"]
    assert len(answers) == len(batch) == len(gold) >= 9_000
    bad_features = [
        (row["transaction_id"], column, row[column], gold[row["transaction_id"]][column])
        for row in computed
        for column in COLUMNS
        if not same_value(row[column], gold[row["transaction_id"]][column])
    ]
    assert bad_features[:5] == []
    assert len(computed) == len(gold)
    bad_scores = [
        (tid, answer["fraud_probability"], batch[tid]["fraud_probability"])
        for tid, answer in answers.items()
        if not math.isclose(
            answer["fraud_probability"], batch[tid]["fraud_probability"], abs_tol=1e-9
        )
        or answer["is_fraud"] != batch[tid]["is_fraud"]
    ]
    assert bad_scores[:5] == []
    # the scores spread (the model is not constant on this book)
    assert len({round(a["fraud_probability"], 6) for a in answers.values()}) > 100
