"""Helpers shared by the benchmark scripts: timing, driver memory, shuffle sizes."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

from pyspark.sql import SparkSession


class PeakMemory:
    """Samples the driver JVM's resident memory (local mode: the whole Spark engine)."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s, self.peak_kib = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self._rss_kib())
            time.sleep(self.every_s)

    def __enter__(self):
        self.peak_kib = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# The data-quality work a run does besides its transforms: the Gold expectation suites and
# the per-batch schema drift. Off, for the side-by-side measure of what they cost.
# what each round of `quality_rounds` turns off: everything, the schema drift only, nothing
QUALITY_MODES = {
    "off": ("quality.suites=false", "quality.schema_drift=false"),
    "suites": ("quality.schema_drift=false",),
    "on": (),
}


def quality_lake(workdir: Path, landing: Path, label: str, mode: str, overrides=()):
    """Settings for a run on a fresh lake of its own (``<workdir>/lake-<label>``), with the
    quality work of ``mode`` (``QUALITY_MODES``)."""
    from lakehouse.config import load_settings

    out = workdir / f"lake-{re.sub(r'[^a-z0-9]+', '-', label).strip('-')}"
    shutil.rmtree(out, ignore_errors=True)
    print(f"{label}:", flush=True)
    return load_settings(
        "local",
        landing=str(landing),
        lake=str(out),
        overrides=[*overrides, *QUALITY_MODES[mode]],
    )


# the rounds, in order: the two measured ones sit between the two off runs, so the JVM's
# warm-up (each run is faster than the one before) favours neither side of the comparison
QUALITY_ROUNDS = (
    ("quality off (1)", "off"),
    ("quality on", "on"),
    ("suites only", "suites"),
    ("quality off (2)", "off"),
)


def quality_rounds(results: dict, run) -> None:
    """Time ``run(mode, label)`` for each of ``QUALITY_ROUNDS`` in one process. The cost of the
    quality work is a measured run against the mean of the off runs: everything (suites and
    schema drift), and the expectation suites alone (schema drift off)."""
    seconds = {label: run(mode, label) for label, mode in QUALITY_ROUNDS}
    off = (seconds["quality off (1)"] + seconds["quality off (2)"]) / 2
    results["quality_on_s"] = round(seconds["quality on"], 2)
    results["suites_only_s"] = round(seconds["suites only"], 2)
    results["quality_off_s"] = round(off, 2)
    results["quality_overhead_pct"] = round(100 * (seconds["quality on"] / off - 1), 1)
    results["suites_overhead_pct"] = round(100 * (seconds["suites only"] / off - 1), 1)
    print(
        f"  quality overhead: {results['quality_overhead_pct']:+.1f}% "
        f"(expectation suites alone: {results['suites_overhead_pct']:+.1f}%)",
        flush=True,
    )


def write_results(name: str, results: dict) -> None:
    """Print the figures as JSON and keep them in ``bench-results/<name>.json``."""
    text = json.dumps(results, indent=2)
    print(text)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(text)


def timed(label: str, results: dict, fn):
    start = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - start, 2)
    print(f"  {label:<28} {results[label]:>8.2f} s", flush=True)
    return value


def largest_shuffle_mib(spark: SparkSession, after_stage: int = -1) -> tuple[float, int]:
    """The largest shuffle write of any stage after ``after_stage`` (MiB), and the last stage id.

    Read from Spark's status store (what the UI shows), which is kept with the UI disabled too.
    """
    sc = spark.sparkContext
    no_quantiles = sc._gateway.new_array(sc._jvm.double, 0)
    # AppStatusStore.stageList(statuses, details, withSummaries, quantiles, taskStatuses): a Seq
    stages = sc._jsc.sc().statusStore().stageList(None, False, False, no_quantiles, None)
    largest, last = 0, after_stage
    for i in range(stages.size()):
        stage = stages.apply(i)
        last = max(last, stage.stageId())
        if stage.stageId() > after_stage:
            largest = max(largest, stage.shuffleWriteBytes())
    return round(largest / 2**20, 1), last
