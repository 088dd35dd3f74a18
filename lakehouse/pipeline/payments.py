"""The payments steps: four CSV feeds -> Bronze -> Silver (+ history) -> gold/payments_unified.

landing/payments/<feed>/*.csv --ingest--> bronze/<feed> --silver--> silver/payment_transactions
    silver/account_changes -> silver/accounts (type 2)      silver/risk_events -> risk_intervals
    silver/fraud_case_history -> silver/fraud_cases (latest)  --gold--> gold/payments_unified
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze.encryption import encrypt_raw
from lakehouse.bronze.payments import (
    FEED_COLUMNS,
    bronze_schema,
    map_header,
    positional_names,
    to_bronze_payments,
)
from lakehouse.config import Settings
from lakehouse.gold.payments import changed_payments_unified, to_payments_unified
from lakehouse.io.delta import (
    append_once,
    ensure_table,
    latest_version,
)
from lakehouse.io.file_check import CsvDialect
from lakehouse.io.landing import (
    KIND_CSV,
    path_exists,
    read_csv_positional,
    stream_new_file_paths,
)
from lakehouse.io.ledger import record_batch
from lakehouse.io.streams import run_available_now
from lakehouse.pipeline.landed import (
    read_checked_files,
    refuse_unknown_headers,
    retry_lane,
    retry_replaced_files,
    with_salvaged_sources,
)
from lakehouse.pipeline.report import StepReport
from lakehouse.pipeline.steps import (
    Changes,
    GoldSpec,
    Partial,
    SilverSpec,
    Transform,
    run_gold,
    run_silver,
)
from lakehouse.privacy import resolve_key
from lakehouse.quality.audit import BatchCheck
from lakehouse.quality.drift import HeaderGroup
from lakehouse.quality.drift_audit import (
    Batch,
    column_kind_counts,
    column_kind_flag_names,
    column_kind_flags,
    column_kinds,
    observe_csv_batch,
)
from lakehouse.quality.layers import BRONZE_SUITES
from lakehouse.silver import payments as sp
from lakehouse.tables import (
    BATCH_LEDGER,
    GOLD_PAYMENTS_UNIFIED,
    PAYMENT_FEEDS,
    SILVER_ACCOUNT_CHANGES,
    SILVER_ACCOUNTS,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_FRAUD_CASES,
    SILVER_RISK_EVENTS,
    SILVER_RISK_INTERVALS,
    SILVER_TRANSACTIONS,
    Table,
)

log = logging.getLogger(__name__)

SOURCE = "payments"
PAYMENTS_FOLDER = "payments"
LABEL_CUTOFF_KEY = "label_cutoff"


def ingest_payment_feed(spark: SparkSession, settings: Settings, feed: str) -> StepReport:
    """New CSV files of one feed -> ``bronze/<feed>``, each file exactly once.

    Files are grouped by header, so each group is read in one pass with its own mapping of
    columns by name.
    """
    bronze = Table("bronze", feed)
    bronze_path = settings.table_path(*bronze)
    folder = settings.landing_path(PAYMENTS_FOLDER, feed)
    report = StepReport("bronze", feed, bronze.key)
    if not path_exists(spark, folder):
        report.skipped_reason = f"no landing folder {folder}"
        report.version = latest_version(spark, bronze_path)
        return report
    ensure_table(spark, bronze_path, spark.createDataFrame([], bronze_schema(feed)))
    key = resolve_key(settings)

    def write_batch(files_df: DataFrame, batch_id: int) -> None:
        lane = retry_lane(batch_id)
        landed = read_checked_files(spark, settings, feed, files_df, KIND_CSV)
        refuse_unknown_headers(landed, feed, settings.payments.aliases)
        by_path = {c["load_path"]: c for c in landed.checks}
        to_read = [(path, by_path[path]) for path in landed.whole]
        to_read += [(s.uri, s.check) for s in landed.salvaged]
        groups: dict[tuple, list[str]] = defaultdict(list)
        empty_files = 0
        for path, check in to_read:
            if check["header"]:
                dialect = CsvDialect(check["delimiter"], check["quote"])
                groups[(tuple(check["header"]), dialect)].append(path)
            else:
                empty_files += 1
        mappings = {key: map_header(feed, key[0], settings.payments.aliases) for key in groups}
        frames = [
            to_bronze_payments(
                with_salvaged_sources(
                    read_csv_positional(spark, paths, positional_names(header), dialect),
                    landed.salvaged,
                ),
                feed,
                mappings[(header, dialect)],
                batch_id,
            )
            for (header, dialect), paths in groups.items()
        ]
        metrics = {"empty_files": empty_files, "records_read": 0}
        kept: dict[str, int] = {}
        kinds: dict[str, str] = {}
        drift = settings.quality.schema_drift
        if frames:
            clear = frames[0]
            for frame in frames[1:]:
                clear = clear.unionByName(frame)
            # only ciphertext is cached (a cache may spill to the executors' disks): each
            # column's kind for the drift is flagged per row on the clear cells first
            flags = column_kind_flags(FEED_COLUMNS[feed]) if drift else []
            sealed = encrypt_raw(clear.select("*", *flags), feed, key).persist()
            bronze_df = sealed.drop(*column_kind_flag_names(FEED_COLUMNS[feed]))
            try:
                # one pass: the counts, and each column's kind (schema drift)
                counts = sealed.agg(
                    F.count(F.lit(1)).alias("records_read"),
                    F.sum(F.col("is_malformed").cast("long")).alias("malformed"),
                    F.sum((F.size("_missing_columns") > 0).cast("long")).alias("missing_columns"),
                    *(column_kind_counts(FEED_COLUMNS[feed]) if drift else []),
                ).first()
                shown = ("records_read", "malformed", "missing_columns")
                metrics.update({k: int(counts[k] or 0) for k in shown})
                if drift:
                    kinds = column_kinds(counts.asDict(), FEED_COLUMNS[feed])
                # the batch's rows are validated on a thread of their own while they are
                # written: they are the same rows either way (cached)
                with BatchCheck(
                    spark,
                    settings,
                    report,
                    BRONZE_SUITES[bronze],
                    bronze_df,
                    bronze_schema(feed).fieldNames(),
                    batch_id=batch_id,
                    lane=lane,
                ) as check:
                    kept = landed.kept_per_file(bronze_df)
                    append_once(
                        bronze_df,
                        bronze_path,
                        app_id=bronze.key + lane,
                        batch_id=batch_id,
                        merge_schema=True,
                    )
                    check.finish(lambda: latest_version(spark, bronze_path))
            finally:
                sealed.unpersist()
        if drift and groups:
            headers = [
                HeaderGroup(len(paths), mappings[key].unknown, mappings[key].missing)
                for key, paths in groups.items()
            ]
            batch = Batch(batch_id, lane, sum(h.files for h in headers))
            observe_csv_batch(spark, settings, report, batch, headers, kinds)
        metrics["bronze_rows"] = metrics["records_read"]
        metrics["header_groups"] = len(groups)
        metrics.update(landed.record(spark, batch_id, kept))
        record_batch(
            spark,
            settings.table_path(*BATCH_LEDGER),
            step="bronze",
            source=feed,
            batch_id=batch_id,
            metrics=metrics,
            lane=lane,
        )
        report.add_batch(batch_id, metrics)

    run_available_now(
        stream_new_file_paths(spark, folder, settings.ingest),
        checkpoint=settings.checkpoint_path(*bronze),
        handler=write_batch,
        name=f"bronze_{feed}",
    )
    retry_replaced_files(spark, settings, feed, folder, write_batch)
    report.version = latest_version(spark, bronze_path)
    return report


def ingest_payments(spark: SparkSession, settings: Settings) -> list[StepReport]:
    """Every payment feed."""
    return [ingest_payment_feed(spark, settings, feed) for feed in PAYMENT_FEEDS]


def _schema_of(spark: SparkSession, transform, feed: str):
    """The output schema of a Silver transform, from an empty Bronze frame of the feed."""
    empty = spark.createDataFrame([], bronze_schema(feed))
    return transform(empty).schema


def _cleaned_then(with_reasons: Transform, feed: str, bronze_df: DataFrame) -> DataFrame:
    return with_reasons(sp.without_control_chars(bronze_df, feed))


def silver_specs(spark: SparkSession, settings: Settings) -> list[SilverSpec]:
    """How each payment feed goes from Bronze to Silver, in the order the step runs them."""
    key = resolve_key(settings)
    to_transactions = partial(sp.to_silver_transactions, hmac_key=key)
    to_changes = partial(sp.to_account_changes, hmac_key=key)
    # accounts first: the transactions' and the risk feed's referential checks then see this
    # run's accounts
    feeds = [
        (
            "account_details",
            SILVER_ACCOUNT_CHANGES,
            sp.with_account_reasons,
            to_changes,
            sp.filter_newest_snapshot,
            ("account_id", "updated_at"),
            "s._source_modified_at > t._source_modified_at "
            "AND s.attributes_hash <> t.attributes_hash",
            "account_id",
        ),
        (
            "external_risk_feed",
            SILVER_RISK_EVENTS,
            sp.with_risk_reasons,
            sp.to_risk_events,
            sp.filter_newest_risk_event,
            ("account_id", "effective_ts"),
            "s._source_modified_at > t._source_modified_at AND s.event_hash <> t.event_hash",
            "account_id",
        ),
        (
            "payment_transactions",
            SILVER_TRANSACTIONS,
            sp.with_transaction_reasons,
            to_transactions,
            sp.filter_first_transaction,
            ("transaction_id",),
            None,
            "transaction_id",
        ),
        (
            "historical_fraud_cases",
            SILVER_FRAUD_CASE_HISTORY,
            sp.with_fraud_case_reasons,
            sp.to_fraud_case_history,
            sp.filter_first_case_row,
            ("transaction_id", "status", "reported_ts"),
            None,
            "transaction_id",
        ),
    ]
    return [
        SilverSpec(
            source=feed,
            bronze=Table("bronze", feed),
            silver=silver,
            quarantine=Table("quarantine", feed),
            silver_schema=_schema_of(spark, to_silver, feed),
            with_reasons=partial(_cleaned_then, with_reasons, feed),
            to_silver=to_silver,
            latest_per_key=latest,
            keys=keys,
            update_condition=update,
            to_quarantine=partial(sp.to_quarantine_rows, key=quarantine_key),
            to_warnings=partial(sp.to_warning_rows, key=quarantine_key, source=feed),
        )
        for feed, silver, with_reasons, to_silver, latest, keys, update, quarantine_key in feeds
    ]


# Silver history tables derived from a feed's table: (source, target, build, keys)
_DERIVED = (
    (SILVER_ACCOUNT_CHANGES, SILVER_ACCOUNTS, sp.to_account_versions, ("account_id", "valid_from")),
    (SILVER_RISK_EVENTS, SILVER_RISK_INTERVALS, sp.to_risk_intervals, ("account_id", "valid_from")),
    (SILVER_FRAUD_CASE_HISTORY, SILVER_FRAUD_CASES, sp.latest_case_status, ("transaction_id",)),
)


def _derived_spec(
    source: Table, target: Table, build: Transform, keys: tuple[str, ...]
) -> GoldSpec:
    return GoldSpec(
        step="silver",
        source=target.name,
        target=target,
        inputs=(source,),
        build=lambda frames: build(frames[source.key]),
        keys=keys,
    )


def build_silver_payments(spark: SparkSession, settings: Settings) -> list[StepReport]:
    """Every feed's Silver table, then the derived dimension and interval tables."""
    reports = [run_silver(spark, settings, spec) for spec in silver_specs(spark, settings)]
    reports += [run_gold(spark, settings, _derived_spec(*derived)) for derived in _DERIVED]
    return reports


GOLD_SOURCES = (
    SILVER_TRANSACTIONS,
    SILVER_ACCOUNTS,
    SILVER_RISK_INTERVALS,
    SILVER_FRAUD_CASE_HISTORY,
)


def _empty_like(spark: SparkSession, settings: Settings, table: Table) -> DataFrame:
    """No rows, with the columns ``table`` gets from its transforms (a feed not delivered yet)."""
    key = resolve_key(settings)
    chains = {
        SILVER_ACCOUNTS.key: (
            "account_details",
            lambda df: sp.to_account_versions(sp.to_account_changes(df, hmac_key=key)),
        ),
        SILVER_RISK_INTERVALS.key: (
            "external_risk_feed",
            lambda df: sp.to_risk_intervals(sp.to_risk_events(df)),
        ),
        SILVER_FRAUD_CASE_HISTORY.key: ("historical_fraud_cases", sp.to_fraud_case_history),
    }
    feed, chain = chains[table.key]
    return chain(spark.createDataFrame([], bronze_schema(feed)))


def build_payments_unified(
    spark: SparkSession, settings: Settings, *, now: datetime | None = None
) -> StepReport:
    """(Re)build ``gold/payments_unified`` when a source or the label settings changed.

    Only the transactions are required: an account, risk or fraud feed that has not delivered
    anything yet reads as empty (flags default, labels false). The label cutoff defaults to
    the time of the run (``now``, default the clock); it is recorded in the commit, and a rerun
    on unchanged sources does nothing (so the table gets no new version). With
    ``gold.incremental`` a build rebuilds only the rows the sources' changes and the cutoff's
    move can reach (``changed_payments_unified``).
    """
    payments = settings.payments
    cutoff = (payments.label_cutoff or now or datetime.now(UTC)).astimezone(UTC)
    naive_cutoff = cutoff.replace(tzinfo=None)
    windows = payments.velocity_windows_s

    def inputs(frames) -> list[DataFrame]:
        def frame(table: Table) -> DataFrame:
            df = frames[table.key]
            return df if df is not None else _empty_like(spark, settings, table)

        return [frame(t) for t in GOLD_SOURCES]

    def build(frames) -> DataFrame:
        return to_payments_unified(
            *inputs(frames),
            cutoff=naive_cutoff,
            maturity_days=payments.label_maturity_days,
            velocity_windows=windows,
        )

    def increment(frames, changes: Changes) -> Partial | None:
        previous = changes.previous.get(LABEL_CUTOFF_KEY)
        if previous is None:
            return None
        previous_cutoff = datetime.fromisoformat(previous).astimezone(UTC).replace(tzinfo=None)
        names = dict(zip(("transactions", "accounts", "risk", "cases"), GOLD_SOURCES, strict=True))
        rows, scope = changed_payments_unified(
            *inputs(frames),
            changes.target,
            {name: changes.rows.get(table.key) for name, table in names.items()},
            cutoff=naive_cutoff,
            previous_cutoff=previous_cutoff,
            maturity_days=payments.label_maturity_days,
            velocity_windows=windows,
        )
        return Partial(rows, scope)

    label_setting = {
        "label_cutoff": payments.label_cutoff.isoformat() if payments.label_cutoff else None,
        "label_maturity_days": payments.label_maturity_days,
    }
    spec = GoldSpec(
        step="gold",
        source=SOURCE,
        target=GOLD_PAYMENTS_UNIFIED,
        inputs=GOLD_SOURCES,
        required=(SILVER_TRANSACTIONS,),
        build=build,
        keys=("transaction_id",),
        recorded={"label_setting": label_setting, "velocity_windows_s": dict(windows)},
        extra_metadata={LABEL_CUTOFF_KEY: cutoff.isoformat()},
        increment=increment,
    )
    return run_gold(spark, settings, spec)


__all__ = [
    "FEED_COLUMNS",
    "build_payments_unified",
    "build_silver_payments",
    "ingest_payment_feed",
    "ingest_payments",
]
