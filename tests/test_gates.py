"""Whole-run data-quality gates on the steps' reports (``lakehouse.pipeline.gates``)."""

from lakehouse.config import QualitySettings
from lakehouse.pipeline.gates import gate_failures
from lakehouse.pipeline.report import StepReport


def report(step: str, table: str, **metrics) -> StepReport:
    r = StepReport(step, table.split("/")[1], table)
    r.add_batch(0, metrics)
    return r


def test_a_quarantine_share_over_the_threshold_fails_and_one_at_it_passes():
    quality = QualitySettings(max_quarantine_share=0.5)
    at = report("silver", "silver/sessions", bronze_rows=10, quarantined=5)
    over = report("silver", "silver/risk_events", bronze_rows=10, quarantined=6)
    assert gate_failures([at], quality) == []
    assert gate_failures([at, over], quality) == [
        "silver/risk_events: 6 of 10 rows quarantined (60% > quality.max_quarantine_share 50%)"
    ]
    assert gate_failures([over], QualitySettings(max_quarantine_share=1.0)) == []


def test_an_ingest_that_refused_every_file_fails():
    quality = QualitySettings()
    some = report("bronze", "bronze/sessions", files_read=3, files_refused=2)
    every = report("bronze", "bronze/account_details", files_read=2, files_refused=2)
    nothing = StepReport("bronze", "sessions", "bronze/sessions")  # no new file: no gate
    assert gate_failures([some, nothing], quality) == []
    assert gate_failures([every], quality) == [
        "bronze/account_details: every file read was refused (2)"
    ]
