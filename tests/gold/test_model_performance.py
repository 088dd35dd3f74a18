"""Live model performance: the inference log's answers judged by the outcomes that arrived."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sklearn.metrics import average_precision_score

from lakehouse.gold.model_performance import summarize, to_model_performance
from lakehouse.ml.report import describe_live, live_figures
from lakehouse.monitoring.jobs import JobRun
from lakehouse.pipeline.inference_log import SCHEMA as LOG_SCHEMA

DAY = datetime(2024, 3, 5, 9, tzinfo=UTC)


def answer(task, version, source, record, prediction, decision=None, minute=0, request="r"):
    logged = datetime(2024, 3, 6, 10, minute, tzinfo=UTC)
    return {
        "request_id": request,
        "logged_at": logged,
        "source": source,
        "replica": "test",
        "task": task,
        "model_name": "delivery_date" if task == "delivery" else "fraud",
        "model_version": version,
        "model_alias": "champion",
        "record_id": record,
        "event_ts": DAY,
        "features_hash": "h",
        "prediction": prediction,
        "decision": decision,
        "threshold": None if decision is None else 0.5,
        "day": logged.date(),
    }


@pytest.fixture(scope="module")
def performance(spark):
    log = spark.createDataFrame(
        [
            answer("delivery", 1, "online", "c1", 9.0, minute=1),  # superseded by the next
            answer("delivery", 1, "online", "c1", 3.0, minute=2),
            answer("delivery", 1, "online", "c2", 5.5),
            answer("delivery", 1, "online", "c3", 2.0),  # not delivered yet: no outcome
            answer("delivery", 1, "batch", "c1", 4.0),
            answer("fraud", 2, "online", "t1", 0.9, True),
            answer("fraud", 2, "online", "t2", 0.8, True),
            answer("fraud", 2, "online", "t3", 0.1, False),
            answer("fraud", 2, "online", "t4", 0.7, True),  # label not mature: not counted
        ],
        LOG_SCHEMA,
    )
    delivery = spark.createDataFrame(
        [("c1", 3), ("c2", 4), ("c3", None)], "record_id string, delivery_days int"
    )
    payments = spark.createDataFrame(
        [("t1", True, True), ("t2", False, True), ("t3", True, True), ("t4", False, False)],
        "transaction_id string, fraud_flag boolean, label_is_mature boolean",
    )
    rows = to_model_performance(log, delivery, payments).collect()
    return {(r["task"], r["source"]): r.asDict() for r in rows}


def test_delivery_answers_are_judged_by_the_actual_days(performance):
    online = performance[("delivery", "online")]
    assert online["day"] == date(2024, 3, 5)  # the checkout's day, not the answer's
    assert online["outcomes"] == 2  # c1 once (its latest answer), c2; c3 has no outcome yet
    assert online["abs_error_days"] == pytest.approx(0.0 + 1.5)
    assert online["within_1d"] == 1 and online["positives"] is None
    batch = performance[("delivery", "batch")]
    assert (batch["outcomes"], batch["abs_error_days"]) == (1, pytest.approx(1.0))


def test_fraud_answers_count_only_mature_labels(performance):
    fraud = performance[("fraud", "online")]
    assert fraud["outcomes"] == 3 and fraud["positives"] == 2
    assert (fraud["true_positives"], fraud["false_positives"]) == (1, 1)
    expected = average_precision_score([1, 0, 1], [0.9, 0.8, 0.1])
    assert fraud["pr_auc"] == pytest.approx(expected)
    assert fraud["abs_error_days"] is None and fraud["within_1d"] is None


def test_figures_over_days_are_exact_from_the_counts(performance):
    fraud = performance[("fraud", "online")]
    other_day = {**fraud, "day": date(2024, 3, 6), "outcomes": 5, "positives": 1}
    other_day |= {"true_positives": 1, "false_positives": 0, "pr_auc": 1.0}
    figures = summarize([fraud, other_day])
    assert figures["precision"] == pytest.approx(2 / 3)
    assert figures["recall"] == pytest.approx(2 / 3)
    assert figures["pr_auc"] == pytest.approx((fraud["pr_auc"] * 2 + 1.0) / 3)
    delivery = summarize([performance[("delivery", "online")]])
    assert delivery["mae"] == pytest.approx(0.75) and delivery["within_1d"] == 0.5
    assert summarize([]) == {"outcomes": 0, "days": 0}


def test_models_and_job_metrics_show_the_live_figures(performance):
    figures = live_figures(list(performance.values()))
    lines = describe_live(figures, "fraud", "2")
    assert lines == [
        "    live (online, 30 days to 2024-03-05): precision 0.5000, recall 0.5000, "
        f"pr_auc {performance[('fraud', 'online')]['pr_auc']:.4f} (2 frauds) on 3 outcomes"
    ]
    assert len(describe_live(figures, "delivery_date", "1")) == 2  # online and batch
    assert describe_live(figures, "fraud", "3") == []
    run = JobRun("gold", "local", live={key: found for key, (_, found) in figures.items()})
    text = "\n".join(
        f"{m.name} {s.labels} {s.value}" for m in run.registry(0, 1.0).collect() for s in m.samples
    )
    assert "lakehouse_model_live_metric" in text
    assert "'model': 'delivery_date', 'version': '1', 'source': 'online', 'metric': 'mae'" in text
