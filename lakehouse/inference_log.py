"""The inference log's shape and places, shared by the service (no Spark) and the pipeline.

The service writes its answers as Parquet files under ``<lake>/_inference_log/`` (see
``serving.inference_log``); ``lakehouse ingest`` appends them to the Delta table
``audit/inference_log`` and deletes them; ``lakehouse score`` appends its batch predictions
there directly. One row per answered record.
"""

from __future__ import annotations

import pyarrow as pa

from lakehouse.tables import INFERENCE_LOG

INCOMING_FOLDER = "_inference_log"
ONLINE, BATCH = "online", "batch"

# (name, Arrow type, nullable, meaning); the Delta table adds ``source_file``
COLUMNS = (
    ("request_id", pa.string(), False, "the request's X-Request-ID, or the batch run's id"),
    ("logged_at", pa.timestamp("us", tz="UTC"), False, "when the answer was given"),
    ("source", pa.string(), False, "online (the service) or batch (lakehouse score)"),
    ("replica", pa.string(), False, "the service process (pod and pid), or the batch job"),
    ("task", pa.string(), False, "delivery or fraud"),
    ("model_name", pa.string(), False, "registered model name"),
    ("model_version", pa.int64(), False, "registered model version"),
    ("model_alias", pa.string(), True, "champion or challenger (null: a pinned version)"),
    ("record_id", pa.string(), False, "transaction_id, or the checkout's record_id"),
    ("event_ts", pa.timestamp("us", tz="UTC"), True, "the transaction's or the order's time"),
    ("features_hash", pa.string(), False, "BLAKE2b-128 of the feature row (no raw values)"),
    ("prediction", pa.float64(), False, "delivery days, or fraud probability"),
    ("decision", pa.bool_(), True, "fraud: probability at or above the threshold"),
    ("threshold", pa.float64(), True, "fraud: the decision threshold used"),
    ("day", pa.date32(), False, "logged_at's UTC day (the table's partition)"),
)
INFERENCE_LOG_SCHEMA = pa.schema(
    [pa.field(name, kind, nullable=nullable) for name, kind, nullable, _ in COLUMNS]
)
COLUMN_NAMES = tuple(name for name, *_ in COLUMNS)


def incoming_folder(lake_root: str, folder: str | None = None) -> str:
    """Where the service drops its files: ``serve.inference_log.folder`` when set, else
    ``<lake>/_inference_log``."""
    return folder.rstrip("/") if folder else f"{lake_root.rstrip('/')}/{INCOMING_FOLDER}"


__all__ = ["INFERENCE_LOG", "INFERENCE_LOG_SCHEMA", "incoming_folder"]
