"""The inference log: every answer the service gives, kept for judging models later.

A scored request adds one entry to an in-memory buffer (a tuple of references: no copying, no
hashing, no I/O on the event loop). A background thread turns the buffer into a Parquet file
every ``serve.inference_log.flush_s`` (or sooner when ``max_rows`` wait) and writes it under
``<lake>/_inference_log/`` in one atomic step: a rename on a local disk, one PUT on S3. Each
replica writes its own files, named by replica, time and sequence, so any number of replicas
never contend; ``lakehouse ingest`` then appends the new files to the Delta table
``audit/inference_log`` (one writer, the lake's own commit protocol) and deletes them.

What a row holds: the request id, the time, the model (name, version, alias), the record's
id (``transaction_id`` or the checkout's ``record_id``) and event time, a hash of the feature
row the model saw (BLAKE2b over its canonical JSON), and the answer. No raw feature value and
no PII: zip codes, accounts and amounts stay out.

A file that cannot be written (the lake unreachable) keeps its rows for the next flush; the
buffer is bounded (``max_buffered_rows``), and rows beyond it are dropped, counted in
``lakehouse_inference_log_dropped_total`` and logged, rather than taking the service down.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.inference_log import INFERENCE_LOG_SCHEMA, ONLINE
from lakehouse.io.files import write_object

log = logging.getLogger(__name__)

HASH_BYTES = 16
YIELD_EVERY_ROWS = 64
CHUNK_ROWS = 256


def features_hash(row: dict[str, Any]) -> str:
    """A stable hash of one feature row: BLAKE2b-128 over its JSON with sorted keys."""
    payload = orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(payload, digest_size=HASH_BYTES).hexdigest()


def replica_name() -> str:
    """This process's name in file names: the pod's (HOSTNAME) and the process id."""
    host = os.environ.get("HOSTNAME") or socket.gethostname() or "service"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)[:63]
    return f"{safe}-{os.getpid()}"


@dataclass(frozen=True, eq=False)
class Entry:
    """One scored request, as the event loop hands it over (references only)."""

    request_id: str
    logged_at: datetime
    task: str
    model_name: str
    model_version: int
    model_alias: str
    record_ids: Sequence[str]
    event_times: Sequence[datetime | date | None]
    features: Sequence[dict[str, Any]]
    values: np.ndarray
    threshold: float | None


def _timestamp(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _hashes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """``features_hash`` of every row, letting go of the GIL between small chunks."""
    out: list[str] = []
    for start in range(0, len(rows), YIELD_EVERY_ROWS):
        out += [features_hash(row) for row in rows[start : start + YIELD_EVERY_ROWS]]
        time.sleep(0)  # the event loop, if it waits for the GIL, runs now
    return out


def _add_entry(columns: dict[str, list], entry: Entry, replica: str) -> None:
    """Append one entry's rows to ``columns`` (lists by column name)."""
    n = len(entry.record_ids)
    values = entry.values.astype(float).tolist()
    columns["request_id"] += [entry.request_id] * n
    columns["logged_at"] += [entry.logged_at] * n
    columns["source"] += [ONLINE] * n
    columns["replica"] += [replica] * n
    columns["task"] += [entry.task] * n
    columns["model_name"] += [entry.model_name] * n
    columns["model_version"] += [entry.model_version] * n
    columns["model_alias"] += [entry.model_alias] * n
    columns["record_id"] += list(entry.record_ids)
    columns["event_ts"] += [_timestamp(t) for t in entry.event_times]
    columns["features_hash"] += _hashes(entry.features)
    columns["prediction"] += values
    if entry.threshold is None:
        columns["decision"] += [None] * n
    else:
        columns["decision"] += [v >= entry.threshold for v in values]
    columns["threshold"] += [entry.threshold] * n
    columns["day"] += [entry.logged_at.date()] * n


def to_table(entries: list[Entry], replica: str) -> pa.Table:
    """The rows of ``entries`` as an Arrow table of ``INFERENCE_LOG_SCHEMA``.

    Runs on the writer thread, which shares the GIL with the event loop: the work is cut in
    small pieces (``YIELD_EVERY_ROWS`` hashes, Arrow chunks of ``CHUNK_ROWS``) with the GIL let
    go in between, so that a request never waits behind a whole flush (Python hands the GIL
    over only every 5 ms otherwise: that showed in the service's p99).
    """
    tables: list[pa.Table] = []
    columns: dict[str, list] = {field.name: [] for field in INFERENCE_LOG_SCHEMA}
    rows = 0
    for i, entry in enumerate(entries):
        _add_entry(columns, entry, replica)
        rows += len(entry.record_ids)
        if rows >= CHUNK_ROWS or i == len(entries) - 1:
            tables.append(pa.Table.from_pydict(columns, schema=INFERENCE_LOG_SCHEMA))
            columns = {field.name: [] for field in INFERENCE_LOG_SCHEMA}
            rows = 0
            time.sleep(0)
    if not tables:
        return INFERENCE_LOG_SCHEMA.empty_table()
    return pa.concat_tables(tables)


class InferenceLog:
    """Buffers answers on the event loop; a thread writes them out in batches.

    Args:
        folder: Where the files go (``lakehouse.inference_log.incoming_folder``).
        storage: How to reach S3.
        flush_s: Longest a row waits in memory.
        max_rows: Rows that trigger a flush before ``flush_s``.
        max_buffered_rows: Rows kept while writes fail; older ones beyond it are dropped.
        metrics: The service's metrics (``inference_log_rows``, ``_files``, ``_dropped``).
    """

    def __init__(
        self,
        folder: str,
        storage: Any,
        *,
        flush_s: float,
        max_rows: int,
        max_buffered_rows: int,
        metrics: Any = None,
    ) -> None:
        self.folder = folder
        self.storage = storage
        self.flush_s = flush_s
        self.max_rows = max_rows
        self.max_buffered_rows = max_buffered_rows
        self.metrics = metrics
        self.replica = replica_name()
        self._entries: list[Entry] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sequence = 0
        self.files_written = 0
        self.rows_written = 0
        self.rows_dropped = 0
        if metrics is not None:  # read at scrape time: the backlog while writes fail
            metrics.inference_log_buffered.set_function(lambda: self._rows)

    def add(self, entry: Entry) -> None:
        """Hand one scored request over (called on the event loop; O(1))."""
        with self._lock:
            self._entries.append(entry)
            self._rows += len(entry.record_ids)
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left (shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def _take(self) -> list[Entry]:
        with self._lock:
            entries, self._entries, self._rows = self._entries, [], 0
        return entries

    def _give_back(self, entries: list[Entry]) -> None:
        """Put unwritten entries back in front, keeping at most ``max_buffered_rows``."""
        with self._lock:
            merged = entries + self._entries
            rows = sum(len(e.record_ids) for e in merged)
            dropped = 0
            while merged and rows > self.max_buffered_rows:
                oldest = merged.pop(0)
                rows -= len(oldest.record_ids)
                dropped += len(oldest.record_ids)
            self._entries, self._rows = merged, rows
        if dropped:
            self.rows_dropped += dropped
            if self.metrics is not None:
                self.metrics.inference_log_dropped.inc(dropped)
            log.error("inference log: %d row(s) dropped, the buffer is full", dropped)

    def flush(self) -> int:
        """Write the buffered rows as one file now; returns how many rows went out."""
        entries = self._take()
        if not entries:
            return 0
        try:
            table = to_table(entries, self.replica)
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="zstd")
            self._sequence += 1
            name = f"{self.replica}-{time.time_ns()}-{self._sequence:06d}.parquet"
            write_object(self.folder, name, sink.getvalue().to_pybytes(), self.storage)
        except Exception as error:  # the lake unreachable: keep the rows for the next flush
            log.warning("inference log: could not write %d request(s): %s", len(entries), error)
            if self.metrics is not None:
                self.metrics.inference_log_errors.inc()
            self._give_back(entries)
            return 0
        self.files_written += 1
        self.rows_written += table.num_rows
        if self.metrics is not None:
            self.metrics.inference_log_rows.inc(table.num_rows)
            self.metrics.inference_log_files.inc()
        return table.num_rows
