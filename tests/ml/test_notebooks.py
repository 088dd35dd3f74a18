"""The notebooks run headlessly against a small lake, so they never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.ml.promotion import promote
from lakehouse.ml.training import train_model
from lakehouse.tables import GOLD_DELIVERY_FEATURES, GOLD_PAYMENTS_UNIFIED
from tests.support.gold import FAST_OVERRIDES, delivery_rows, fraud_rows, write_gold

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory):
    """Gold tables with a second version, and a champion for each model."""
    lake = tmp_path_factory.mktemp("notebooks") / "lake"
    settings = load_settings("local", lake=str(lake), overrides=FAST_OVERRIDES)
    windows = settings.payments.velocity_windows_s
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(1200, seed=1))
    write_gold(spark, settings, GOLD_PAYMENTS_UNIFIED, fraud_rows(5000, seed=2, windows=windows))
    for task in ("delivery", "fraud"):
        train_model(spark, settings, task)
        promote(spark, settings, task)
    # Gold moves on after training: the notebook must still find the champion's data
    write_gold(spark, settings, GOLD_DELIVERY_FEATURES, delivery_rows(100, seed=3), mode="append")
    return lake


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "01_delivery_exploration.ipynb",
        "02_fraud_exploration.ipynb",
        "03_models_and_time_travel.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(small_lake, path: Path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LAKE", str(small_lake))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # the kernel's own Spark stays small: one core, no UI
    monkeypatch.setenv(
        "PYSPARK_SUBMIT_ARGS", "--master local[1] --conf spark.ui.enabled=false pyspark-shell"
    )
    book = nbformat.read(path, as_version=4)
    # a last cell says which lake the notebook read: the small one, not the default data/lake
    book.cells.append(nbformat.v4.new_code_cell("print('LAKE=' + settings.lake_root)"))
    NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,  # run every cell, so that the test names each failing one
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        f"cell {index}: {output['ename']}: {output['evalue']}"
        for index, cell in enumerate(book.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, "\n".join(errors)
    # every notebook draws at least one plot
    images = [
        output
        for cell in book.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} drew no plot"
    printed = "".join(o.get("text", "") for o in book.cells[-1].get("outputs", []))
    assert printed.strip() == f"LAKE={small_lake}"
