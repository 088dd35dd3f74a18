"""``gold/model_performance``: how each deployed model version did, once the outcomes arrived.

The inference log (``audit/inference_log``) holds every answer, online and batch. Outcomes
arrive later, through the pipeline: the actual delivery days of a checkout in
``gold/delivery_features`` (``delivery_days``, once the parcel is delivered), and the fraud
label of a transaction in ``gold/payments_unified`` (``fraud_flag``, counted only when
``label_is_mature``: a case can be reported up to 60 days late, so a younger "legit" is not
known yet). This table joins the two, one row per task, model version, source (online or
batch) and day of the record's event, holding counts from which any span's figures are
exact (``summarize``): absolute error and answers within one day for delivery, true and false
positives and false negatives at the model's own threshold for fraud, plus that day's PR-AUC.

When a record was answered more than once by the same model version and source (a batch run
repeated, a client's retry), its latest answer counts once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.gold.delivery_rules import LABEL as DELIVERY_LABEL
from lakehouse.silver.dedupe import first_per_key

KEYS = ("task", "model_name", "model_version", "source", "day")
SCHEMA = T.StructType(
    [
        T.StructField("task", T.StringType(), False),
        T.StructField("model_name", T.StringType(), False),
        T.StructField("model_version", T.LongType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("day", T.DateType(), False),
        T.StructField("outcomes", T.LongType(), False),  # answers whose outcome is known
        # delivery: days of absolute error summed, answers within one day of the truth
        T.StructField("abs_error_days", T.DoubleType(), True),
        T.StructField("within_1d", T.LongType(), True),
        # fraud, at the answer's threshold; mature labels only
        T.StructField("positives", T.LongType(), True),
        T.StructField("true_positives", T.LongType(), True),
        T.StructField("false_positives", T.LongType(), True),
        T.StructField("pr_auc", T.DoubleType(), True),  # null with one class only that day
    ]
)
WITHIN_DAYS = 1.0


def latest_answers(log: DataFrame) -> DataFrame:
    """One answer per record, model version and source: the latest logged."""
    keys = ("task", "model_name", "model_version", "source", "record_id")
    return first_per_key(log, keys, [F.col("logged_at").desc(), F.col("request_id").desc()])


def with_outcomes(log: DataFrame, delivery: DataFrame | None, payments: DataFrame | None):
    """Answers joined with their known outcomes (``actual``: days, or 1.0/0.0 for fraud)."""
    answers = latest_answers(log).select(
        "task", "model_name", "model_version", "source", "record_id", "event_ts",
        "logged_at", "prediction", "decision",
    )  # fmt: skip
    parts = []
    if delivery is not None:
        outcomes = delivery.where(F.col(DELIVERY_LABEL).isNotNull()).select(
            F.col("record_id"), F.col(DELIVERY_LABEL).cast("double").alias("actual")
        )
        parts.append(answers.where(F.col("task") == "delivery").join(outcomes, "record_id"))
    if payments is not None:
        outcomes = payments.where(F.col("label_is_mature")).select(
            F.col("transaction_id").alias("record_id"),
            F.col("fraud_flag").cast("double").alias("actual"),
        )
        parts.append(answers.where(F.col("task") == "fraud").join(outcomes, "record_id"))
    if not parts:
        return None
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.unionByName(part)
    day = F.coalesce(F.to_date("event_ts"), F.to_date("logged_at"))
    return joined.withColumn("day", day)


def _day_figures(key: tuple, rows: pd.DataFrame) -> pd.DataFrame:
    """One output row from one group's answers with outcomes."""
    task, name, version, source, day = key
    actual = rows["actual"].to_numpy(dtype=float)
    predicted = rows["prediction"].to_numpy(dtype=float)
    out: dict[str, Any] = dict(
        zip(KEYS, (task, name, int(version), source, day), strict=True),
        outcomes=len(rows),
        abs_error_days=None,
        within_1d=None,
        positives=None,
        true_positives=None,
        false_positives=None,
        pr_auc=None,
    )
    if task == "delivery":
        error = np.abs(predicted - actual)
        out["abs_error_days"] = float(error.sum())
        out["within_1d"] = int((error <= WITHIN_DAYS).sum())
    else:
        from sklearn.metrics import average_precision_score

        truth = actual >= 0.5
        flagged = rows["decision"].fillna(False).to_numpy(dtype=bool)
        out["positives"] = int(truth.sum())
        out["true_positives"] = int((truth & flagged).sum())
        out["false_positives"] = int((~truth & flagged).sum())
        if 0 < truth.sum() < len(truth):
            out["pr_auc"] = float(average_precision_score(truth, predicted))
    return pd.DataFrame([out])


def to_model_performance(
    log: DataFrame, delivery: DataFrame | None, payments: DataFrame | None
) -> DataFrame:
    """``gold/model_performance`` rows from the inference log and the outcome tables."""
    spark = log.sparkSession
    joined = with_outcomes(log, delivery, payments)
    if joined is None:
        return spark.createDataFrame([], SCHEMA)
    return joined.groupBy(*KEYS).applyInPandas(_day_figures, SCHEMA)


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Figures over a span of days: MAE and within-one-day share (delivery), precision and
    recall (fraud, exact from the counts) and PR-AUC as the positives-weighted mean of the
    days'; None where nothing is known."""
    rows = list(rows)
    outcomes = int(sum(r["outcomes"] for r in rows))
    out: dict[str, Any] = {"outcomes": outcomes, "days": len(rows)}
    if not rows or not outcomes:
        return out
    if rows[0]["task"] == "delivery":
        out["mae"] = sum(r["abs_error_days"] for r in rows) / outcomes
        out["within_1d"] = sum(r["within_1d"] for r in rows) / outcomes
        return out
    positives = int(sum(r["positives"] for r in rows))
    tp = sum(r["true_positives"] for r in rows)
    fp = sum(r["false_positives"] for r in rows)
    out["positives"] = positives
    out["precision"] = tp / (tp + fp) if tp + fp else None
    out["recall"] = tp / positives if positives else None
    scored = [r for r in rows if r["pr_auc"] is not None]
    weight = sum(r["positives"] for r in scored)
    out["pr_auc"] = sum(r["pr_auc"] * r["positives"] for r in scored) / weight if weight else None
    return out


def recent(rows: Iterable[dict[str, Any]], days: int, today: date) -> list[dict[str, Any]]:
    """The rows of the last ``days`` days up to ``today``."""
    since = today - timedelta(days=days)
    return [r for r in rows if r["day"] > since]
