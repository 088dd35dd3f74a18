"""Helpers shared by the benchmark scripts: timing, driver memory, shuffle sizes."""

from __future__ import annotations

import json
import shutil
import statistics
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
    """Settings for a run on a fresh lake (``<workdir>/lake-quality-<mode>``, emptied first),
    with the quality work of ``mode`` (``QUALITY_MODES``)."""
    from lakehouse.config import load_settings

    out = workdir / f"lake-quality-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    print(f"{label}:", flush=True)
    return load_settings(
        "local",
        landing=str(landing),
        lake=str(out),
        overrides=[*overrides, *QUALITY_MODES[mode]],
    )


def quality_round_order(rounds: int) -> list[tuple[int, str]]:
    """``(round, mode)`` in the order they run: the modes rotate one place each round, so over
    three rounds each mode runs once first, once second and once last, and the JVM's warm-up
    (later runs tend to be faster) favours none of them."""
    modes = list(QUALITY_MODES)
    return [(r + 1, modes[(r + i) % len(modes)]) for r in range(rounds) for i in range(len(modes))]


def quality_rounds(results: dict, run, rounds: int = 3) -> None:
    """Time ``run(mode, label)`` for each quality mode, ``rounds`` times, interleaved, in one
    process. The cost of the quality work is the median run with it against the median run
    without it: everything (suites and schema drift), and the expectation suites alone
    (schema drift off). One run of each is not enough: two identical runs of the pipeline
    can differ by 20% on a shared 2-core machine."""
    seconds: dict[str, list[float]] = {mode: [] for mode in QUALITY_MODES}
    for number, mode in quality_round_order(rounds):
        seconds[mode].append(round(run(mode, f"quality {mode}, round {number}"), 2))
    median = {mode: statistics.median(values) for mode, values in seconds.items()}
    results["quality_rounds"] = rounds
    results["quality_runs_s"] = seconds
    results["quality_off_s"] = round(median["off"], 2)
    results["quality_on_s"] = round(median["on"], 2)
    results["suites_only_s"] = round(median["suites"], 2)
    results["quality_overhead_pct"] = round(100 * (median["on"] / median["off"] - 1), 1)
    results["suites_overhead_pct"] = round(100 * (median["suites"] / median["off"] - 1), 1)
    print(
        f"  quality overhead (medians of {rounds}): {results['quality_overhead_pct']:+.1f}% "
        f"(expectation suites alone: {results['suites_overhead_pct']:+.1f}%); "
        f"runs: {seconds}",
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
