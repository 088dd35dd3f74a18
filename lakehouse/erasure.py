"""``lakehouse forget``: erase data subjects from every table, every version and the registry.

A subject is a customer (by e-mail or customer id, the sessions source) or a payment account
(by account id). One request may name many subjects (a file for bulk requests); it runs in
three passes:

1. **Find.** Every data file of a table (those of older versions too, which time travel still
   reads) is scanned for the subjects' rows, in an order that widens what is known about them:
   Silver sessions link an e-mail to customer ids and session documents, Silver accounts link
   an e-mail to accounts, transactions give the transaction ids that fraud cases and scores
   carry. Raw records are matched on their parsed fields, and on the raw text where a record
   was malformed and kept whole.
2. **Erase.** Each table gets one DELETE (made once per request: a Delta transaction id and
   the request id in the commit's metadata), then exactly the files that still hold the
   subjects' rows are removed from storage, so no version of the table can show them again.
   Training runs and model versions whose data held erased rows are tagged with how many, so
   ``reproduce`` reports the erasure instead of failing; their input examples (real rows) are
   deleted from the model artifacts.
3. **Record.** ``audit/erasures`` gets a row per table with counts and the subjects' tokens
   (HMAC, never a raw value), and the batch ledger gets the erased counts that the
   conservation check subtracts.

A rerun with the same subjects after a crash resumes the same request (its id counts the
completed requests for these subjects), so nothing is deleted or counted twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.config import Settings
from lakehouse.contract import ACCOUNTS, FRAUD_CASES, RISK, TRANSACTIONS
from lakehouse.erasure_registry import count_training_rows, mark_runs, matching
from lakehouse.io.delta import (
    append_once,
    current_data_files,
    delete_once,
    erasure_deletes,
    is_delta_table,
    read_table,
    remove_data_files,
    stored_data_files,
)
from lakehouse.io.ledger import record_batch
from lakehouse.privacy import (
    RAW_ZONE_KEY_COLUMN,
    normalize_email,
    normalize_email_py,
    raw_zone_key,
    resolve_key,
    revealed,
    token_of,
)
from lakehouse.reporting import CONSERVED
from lakehouse.tables import (
    BATCH_LEDGER,
    BRONZE_SESSIONS,
    ERASURES,
    GOLD_DELIVERY_FEATURES,
    GOLD_DELIVERY_PREDICTIONS,
    GOLD_FRAUD_SCORES,
    GOLD_PAYMENTS_UNIFIED,
    INFERENCE_LOG,
    QUARANTINE_RELEASES,
    QUARANTINE_SESSIONS,
    ROW_WARNINGS,
    SILVER_ACCOUNT_CHANGES,
    SILVER_ACCOUNTS,
    SILVER_FRAUD_CASE_HISTORY,
    SILVER_FRAUD_CASES,
    SILVER_RISK_EVENTS,
    SILVER_RISK_INTERVALS,
    SILVER_SESSIONS,
    SILVER_TRANSACTIONS,
    Table,
)

log = logging.getLogger(__name__)

ERASURES_SCHEMA = StructType(
    [
        StructField("request_id", StringType(), False),
        StructField("subject_tokens", StringType(), False),  # JSON {kind: [token, ...]}
        StructField("table", StringType(), False),
        StructField("rows_erased", LongType(), False),
        StructField("files_removed", LongType(), False),
        StructField("erased_at", TimestampType(), False),
    ]
)
# The ledger's step for erased rows; its measures per conserved source.
STEP_ERASURE = "erasure"

KINDS = ("email", "customer_id", "account_id")


@dataclass(frozen=True)
class Subject:
    """One data subject of a request: ``kind`` is one of ``KINDS``."""

    kind: str
    value: str

    @classmethod
    def of(cls, kind: str, value: str) -> Subject:
        kind = kind.strip().lower().replace("-", "_")
        if kind not in KINDS:
            raise ValueError(f"unknown subject kind {kind!r}; use one of {', '.join(KINDS)}")
        cleaned = normalize_email_py(value) if kind == "email" else (value or "").strip()
        if not cleaned:
            raise ValueError(f"an empty {kind} names nobody")
        return cls(kind, cleaned)


def read_subjects(path: Path) -> list[Subject]:
    """Subjects from a CSV file with the header ``kind,value`` (kinds as in ``KINDS``)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or {"kind", "value"} - set(reader.fieldnames):
            raise ValueError(f"{path.name}: the header must be kind,value")
        subjects = []
        for line, row in enumerate(reader, start=2):
            try:
                subjects.append(Subject.of(row["kind"] or "", row["value"] or ""))
            except ValueError as exc:
                raise ValueError(f"{path.name} line {line}: {exc}") from None
    return subjects


@dataclass
class Identifiers:
    """What identifies the subjects' rows, widened as tables are scanned."""

    emails: set[str] = field(default_factory=set)  # normalized
    email_tokens: set[str] = field(default_factory=set)
    customer_ids: set[str] = field(default_factory=set)
    record_ids: set[str] = field(default_factory=set)  # session documents
    account_ids: set[str] = field(default_factory=set)
    transaction_ids: set[str] = field(default_factory=set)
    # the raw zones' key, which every identifier row carries, so that a condition can decrypt
    # the fields Bronze and quarantine keep encrypted (``lakehouse.bronze.encryption``)
    raw_key: bytes = b""

    @classmethod
    def of(cls, subjects: Iterable[Subject], key: bytes) -> Identifiers:
        ids = cls(raw_key=raw_zone_key(key))
        for subject in subjects:
            if subject.kind == "email":
                ids.emails.add(subject.value)
                ids.email_tokens.add(token_of(subject.value, key))
            elif subject.kind == "customer_id":
                ids.customer_ids.add(subject.value)
            else:
                ids.account_ids.add(subject.value)
        return ids

    def frame(self, spark: SparkSession) -> DataFrame:
        """The identifiers as rows (``kind``, ``v``, and the raw zones' key) that the tables are
        joined with, so that no value and no key enters a query plan, the Spark UI, an event log
        or a Delta commit's predicate."""
        rows = [
            (kind, v, self.raw_key)
            for kind, values in self.by_kind().items()
            for v in sorted(values)
        ]
        return spark.createDataFrame(rows, f"kind string, v string, {RAW_ZONE_KEY_COLUMN} binary")

    def by_kind(self) -> dict[str, set[str]]:
        """Identifier kind -> values; ``raw_sessions``/``raw_payments`` are regular expressions
        that find the subjects in a raw record's text."""
        edge = "[^A-Za-z0-9._%+@-]"
        emails = {rf"(?i)(^|{edge}){re.escape(e)}($|{edge})" for e in self.emails}
        customer = r'"customerId"\s*:\s*"?\s*{}\s*"?[,}}\s]'
        fields = self.account_ids | self.transaction_ids
        return {
            "email": self.emails,
            "email_token": self.email_tokens,
            "customer_id": self.customer_ids,
            "record_id": self.record_ids,
            "account_id": self.account_ids,
            "transaction_id": self.transaction_ids,
            "raw_sessions": emails | {customer.format(re.escape(c)) for c in self.customer_ids},
            "raw_payments": emails | {rf'(^|[,:"]\s*){re.escape(v)}\s*($|[,"])' for v in fields},
        }


def _t(name: str) -> Column:
    """A column of the table side (``t``) of the join with the identifiers (``s``)."""
    return F.col(f"t.{name}")


def _is(kind: str, column: Column) -> Column:
    return (F.col("s.kind") == kind) & (column == F.col("s.v"))


def _clear(name: str) -> Column:
    """A column of the table side that a raw zone keeps encrypted, in clear text."""
    return revealed(_t(name), F.col(f"s.{RAW_ZONE_KEY_COLUMN}"))


def _trimmed_is(kind: str, name: str) -> Column:
    return _is(kind, F.trim(_t(name)))


def _any_of(kinds: Iterable[str], column: Column) -> Column:
    return F.col("s.kind").isin(*kinds) & (column == F.col("s.v"))


def _raw_match(kind: str) -> Column:
    """The raw text of a record names a subject (``Identifiers.by_kind`` has the patterns)."""
    text = F.coalesce(_clear("raw_record"), F.lit(""))
    return (F.col("s.kind") == kind) & F.regexp_like(text, F.col("s.v"))


def _malformed_and(kind: str) -> Column:
    return _t("is_malformed") & _raw_match(kind)


def _quarantined(kinds: tuple[str, ...], raw: str) -> Callable[[], Column]:
    """Quarantine rows: by their record id, or, without one, by their raw text."""
    return lambda: (
        _any_of(kinds, F.trim(_t("record_id"))) | (_t("record_id").isNull() & _raw_match(raw))
    )


@dataclass(frozen=True)
class Rule:
    """How one table's rows of the subjects are recognised (a condition on the table ``t``
    joined with the identifiers ``s``), and what they add to the identifiers."""

    table: Table
    match: Callable[[], Column]
    widen: Callable[[DataFrame, Identifiers], None] | None = None


def _collect(df: DataFrame, column: Column) -> set[str]:
    return {r[0] for r in df.select(column.alias("v")).where("v IS NOT NULL").distinct().collect()}


def _widen_silver_sessions(rows: DataFrame, ids: Identifiers) -> None:
    ids.record_ids |= _collect(rows, F.col("record_id"))
    ids.customer_ids |= _collect(rows, F.col("customer_id"))
    ids.email_tokens |= _collect(rows, F.col("customer_email_token"))


def _widen_bronze_sessions(rows: DataFrame, ids: Identifiers) -> None:
    ids.record_ids |= _collect(rows, F.col("record_id"))
    ids.customer_ids |= _collect(rows, F.trim(F.col("source.customer.customerId")))


def _widen_accounts(rows: DataFrame, ids: Identifiers) -> None:
    ids.account_ids |= _collect(rows, F.trim(F.col("account_id")))


def _widen_transactions(rows: DataFrame, ids: Identifiers) -> None:
    ids.transaction_ids |= _collect(rows, F.trim(F.col("transaction_id")))


ANY_ID = ("record_id", "account_id", "transaction_id")

# The order matters: each rule may widen what identifies the subjects for the rules after it.
RULES = (
    Rule(
        SILVER_SESSIONS,
        lambda: (
            _is("customer_id", _t("customer_id")) | _is("email_token", _t("customer_email_token"))
        ),
        _widen_silver_sessions,
    ),
    Rule(
        BRONZE_SESSIONS,
        lambda: (
            _trimmed_is("customer_id", "source.customer.customerId")
            | _is("email", normalize_email(_clear("source.customer.email")))
            | _is("record_id", _t("record_id"))
            | _malformed_and("raw_sessions")
        ),
        _widen_bronze_sessions,
    ),
    Rule(QUARANTINE_SESSIONS, _quarantined(("record_id",), "raw_sessions")),
    *(
        Rule(
            table,
            lambda: _is("account_id", _t("account_id")) | _is("email_token", _t("email_token")),
            _widen_accounts,
        )
        for table in (SILVER_ACCOUNT_CHANGES, SILVER_ACCOUNTS)
    ),
    Rule(
        Table("bronze", ACCOUNTS),
        lambda: (
            _trimmed_is("account_id", "account_id")
            | _is("email", normalize_email(_clear("email")))
            | _malformed_and("raw_payments")
        ),
        _widen_accounts,
    ),
    Rule(
        SILVER_TRANSACTIONS,
        lambda: (
            _is("account_id", _t("source_account_id"))
            | _is("account_id", _t("destination_account_id"))
        ),
        _widen_transactions,
    ),
    Rule(
        Table("bronze", TRANSACTIONS),
        lambda: (
            _trimmed_is("account_id", "source_account_id")
            | _trimmed_is("account_id", "destination_account_id")
            | _trimmed_is("transaction_id", "transaction_id")
            | _malformed_and("raw_payments")
        ),
        _widen_transactions,
    ),
    Rule(
        Table("bronze", RISK),
        lambda: _trimmed_is("account_id", "account_id") | _malformed_and("raw_payments"),
    ),
    Rule(
        Table("bronze", FRAUD_CASES),
        lambda: _trimmed_is("transaction_id", "transaction_id") | _malformed_and("raw_payments"),
    ),
    Rule(Table("quarantine", TRANSACTIONS), _quarantined(("transaction_id",), "raw_payments")),
    Rule(Table("quarantine", ACCOUNTS), _quarantined(("account_id",), "raw_payments")),
    Rule(Table("quarantine", RISK), _quarantined(("account_id",), "raw_payments")),
    Rule(Table("quarantine", FRAUD_CASES), _quarantined(("transaction_id",), "raw_payments")),
    *(
        Rule(table, lambda: _is("account_id", _t("account_id")))
        for table in (SILVER_RISK_EVENTS, SILVER_RISK_INTERVALS)
    ),
    *(
        Rule(table, lambda: _is("transaction_id", _t("transaction_id")))
        for table in (SILVER_FRAUD_CASE_HISTORY, SILVER_FRAUD_CASES, GOLD_FRAUD_SCORES)
    ),
    Rule(
        GOLD_DELIVERY_FEATURES,
        lambda: _is("customer_id", _t("customer_id")) | _is("record_id", _t("record_id")),
    ),
    Rule(GOLD_DELIVERY_PREDICTIONS, lambda: _is("record_id", _t("record_id"))),
    # a checkout's record_id or a transaction_id (files not yet ingested are not reached)
    Rule(
        INFERENCE_LOG,
        lambda: _is("record_id", _t("record_id")) | _is("transaction_id", _t("record_id")),
    ),
    Rule(
        GOLD_PAYMENTS_UNIFIED,
        lambda: (
            _is("transaction_id", _t("transaction_id"))
            | _is("account_id", _t("source_account_id"))
            | _is("account_id", _t("destination_account_id"))
        ),
    ),
    Rule(ROW_WARNINGS, lambda: _any_of(ANY_ID, F.trim(_t("record_id")))),
    Rule(QUARANTINE_RELEASES, lambda: _any_of(ANY_ID, F.trim(_t("record_id")))),
)


@dataclass(frozen=True)
class Stored:
    """Every stored data file of a table: the rows, read with the current schema, each with
    its file's name (``_file``), and each file's URI by name."""

    rows: DataFrame
    uris: dict[str, str]


def all_versions(spark: SparkSession, path: str) -> Stored | None:
    """The table's stored files (``Stored``); None when it has none."""
    files = stored_data_files(spark, path)
    if not files:
        return None
    schema = read_table(spark, path).schema
    rows = (
        spark.read.schema(schema)
        .parquet(*files)
        .withColumn("_file", F.element_at(F.split(F.col("_metadata.file_path"), "/"), -1))
    )
    return Stored(rows, {uri.rsplit("/", 1)[-1]: uri for uri in files})


@dataclass
class TableErasure:
    """What a request found and erased in one table."""

    table: Table
    path: str
    condition: Column
    files: dict[str, str] = field(default_factory=dict)  # name -> URI holding subjects' rows
    rows_erased: int = 0
    files_removed: int = 0


def find(
    spark: SparkSession, settings: Settings, ids: Identifiers
) -> tuple[list[TableErasure], DataFrame]:
    """Widen ``ids`` through the tables that link identifiers, then find every stored file of
    every table that holds the subjects' rows; (the tables, the identifiers' frame)."""
    present = [r for r in RULES if is_delta_table(spark, settings.table_path(*r.table))]
    stored = {r.table: all_versions(spark, settings.table_path(*r.table)) for r in present}
    for rule in present:
        files = stored[rule.table]
        if rule.widen is not None and files is not None:
            # one scan for the several identifier columns the rule collects
            matched = matching(files.rows, ids.frame(spark), rule.match()).cache()
            try:
                rule.widen(matched, ids)
            finally:
                matched.unpersist()
    identifiers = ids.frame(spark).cache()
    found = []
    for rule in present:
        files = stored[rule.table]
        erasure = TableErasure(rule.table, settings.table_path(*rule.table), rule.match())
        if files is not None:
            held = matching(files.rows, identifiers, erasure.condition)
            names = _collect(held, F.col("_file"))
            erasure.files = {name: uri for name, uri in files.uris.items() if name in names}
        found.append(erasure)
    return found, identifiers


def subject_tokens(subjects: Iterable[Subject], key: bytes) -> dict[str, list[str]]:
    """The subjects as HMAC tokens by kind (e-mails tokenized as Silver does): what the audit
    keeps, never a raw value."""
    tokens: dict[str, set[str]] = {}
    for subject in subjects:
        tokens.setdefault(subject.kind, set()).add(token_of(subject.value, key))
    return {kind: sorted(values) for kind, values in sorted(tokens.items())}


def request_id(spark: SparkSession, settings: Settings, tokens: dict[str, list[str]]) -> str:
    """The id of this request: the subjects' digest and how many requests for exactly these
    subjects completed before, so a rerun after a crash resumes the same request."""
    digest = hashlib.sha256(json.dumps(tokens, sort_keys=True).encode()).hexdigest()[:16]
    path = settings.table_path(*ERASURES)
    done = 0
    if is_delta_table(spark, path):
        done = (
            read_table(spark, path)
            .where(F.col("request_id").startswith(f"{digest}-"))
            .select("request_id")
            .distinct()
            .count()
        )
    return f"{digest}-{done + 1}"


@dataclass
class ErasureReport:
    """What one request did."""

    request_id: str
    tables: list[TableErasure]
    runs: dict[str, int] = field(default_factory=dict)  # run id -> training rows erased
    examples_removed: int = 0

    def lines(self) -> list[str]:
        out = [f"erasure {self.request_id}"]
        for t in self.tables:
            if t.rows_erased or t.files_removed:
                out.append(
                    f"  {t.table.key:<34} rows erased={t.rows_erased} "
                    f"files removed={t.files_removed}"
                )
        if not any(t.rows_erased or t.files_removed for t in self.tables):
            out.append("  no rows of these subjects in the lake")
        for run_id, rows in sorted(self.runs.items()):
            out.append(f"  training run {run_id}: {rows} rows of its data erased (tagged)")
        if self.examples_removed:
            out.append(f"  input examples removed from {self.examples_removed} model(s)")
        return out


def forget(spark: SparkSession, settings: Settings, subjects: list[Subject]) -> ErasureReport:
    """Erase ``subjects`` from every table, every stored version and the model registry."""
    if not subjects:
        raise ValueError(
            "name at least one subject (--email, --customer-id, --account-id or --file)"
        )
    key = resolve_key(settings)
    tokens = subject_tokens(subjects, key)
    request = request_id(spark, settings, tokens)
    ids = Identifiers.of(subjects, key)
    tables, identifiers = find(spark, settings, ids)
    report = ErasureReport(request, tables)
    conditions = {t.table.key: t.condition for t in tables}
    # before any file goes: a rerun after a crash could not read those versions any more
    training = count_training_rows(spark, settings, identifiers, conditions)
    report.runs, report.examples_removed = mark_runs(settings, request, training)
    released: dict[str, int] = {}
    # downstream first: a crash leaves the tables that identify the subjects for the rerun
    for erasure in reversed(tables):
        # only a table whose current version holds the subjects' rows gets a commit
        holds = bool(set(erasure.files) & current_data_files(spark, erasure.path))
        before = set(stored_data_files(spark, erasure.path, change_data_only=True))
        if erasure.table == QUARANTINE_RELEASES:  # counted per source, for the conservation
            for source in CONSERVED:
                condition = erasure.condition & (_t("source") == source)
                released[source] = _erase(
                    spark, erasure.path, identifiers, condition, f"{request}:{source}", holds
                )
            erasure.rows_erased = sum(released.values())
        else:
            erasure.rows_erased = _erase(
                spark, erasure.path, identifiers, erasure.condition, request, holds
            )
        # a table that records its changes keeps the deleted rows' images in the change
        # data files the DELETE wrote: those go too (a later incremental Gold build, missing
        # them, rebuilds whole tables)
        written = set(stored_data_files(spark, erasure.path, change_data_only=True)) - before
        erasure.files.update({uri.rsplit("/", 1)[-1]: uri for uri in written})
        current = current_data_files(spark, erasure.path)
        still_read = sorted(set(erasure.files) & current)
        if still_read:  # a DELETE that left rows in place (deletion vectors): never pretend
            raise RuntimeError(
                f"{erasure.table.key}: files {still_read[:3]} still hold erased rows after the "
                "DELETE; purge them (REORG TABLE ... APPLY (PURGE)) and run forget again"
            )
        erasure.files_removed = remove_data_files(spark, list(erasure.files.values()))
    _record(spark, settings, request, tokens, tables, released)
    log.info(
        "erasure %s: %d rows in %d tables",
        request,
        sum(t.rows_erased for t in tables),
        sum(1 for t in tables if t.rows_erased),
    )
    return report


def _erase(
    spark: SparkSession,
    path: str,
    identifiers: DataFrame,
    condition: Column,
    request: str,
    holds: bool,
) -> int:
    """The rows ``request`` deleted from a table: now, or by an earlier attempt."""
    if holds:
        return delete_once(spark, path, identifiers, condition, request=request)
    return erasure_deletes(spark, path).get(request, 0)


def _record(
    spark: SparkSession,
    settings: Settings,
    request: str,
    tokens: dict[str, list[str]],
    tables: list[TableErasure],
    released: dict[str, int],
) -> None:
    """The ledger's erased counts per conserved source, then the audit rows (last: a request
    with audit rows is complete)."""
    erased = {t.table: t.rows_erased for t in tables}
    ledger = settings.table_path(*BATCH_LEDGER)
    for source, (bronze, silver, quarantine) in CONSERVED.items():
        metrics = {
            "bronze": erased.get(bronze, 0),
            "silver": erased.get(silver, 0),
            "quarantine": erased.get(quarantine, 0),
            "released": released.get(source, 0),
        }
        if any(metrics.values()):
            record_batch(
                spark,
                ledger,
                step=STEP_ERASURE,
                source=source,
                batch_id=0,
                metrics=metrics,
                lane=f":{request}",
            )
    rows = [
        (request, json.dumps(tokens), t.table.key, t.rows_erased, t.files_removed)
        for t in tables
        if t.rows_erased or t.files_removed
    ] or [(request, json.dumps(tokens), "-", 0, 0)]
    columns = [f for f in ERASURES_SCHEMA.fields if f.name != "erased_at"]
    audit = spark.createDataFrame(rows, StructType(columns))
    audit = audit.withColumn("erased_at", F.current_timestamp())
    append_once(audit, settings.table_path(*ERASURES), app_id=f"erasure:{request}", batch_id=0)
