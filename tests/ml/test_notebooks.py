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
from tests.support.sql_server import sql_server

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


@pytest.fixture(scope="module")
def endpoint(small_lake):
    """`lakehouse sql-server` on the small lake: the notebooks read it through Spark Connect,
    as a notebook on a laptop reads a team's lake, with no JVM in the kernel."""
    with sql_server(small_lake, thrift=False) as server:
        yield server.connect_url


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "01_delivery_exploration.ipynb",
        "02_fraud_exploration.ipynb",
        "03_models_and_time_travel.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(small_lake, endpoint, path: Path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LAKE", str(small_lake))
    monkeypatch.setenv("LAKEHOUSE_SQL_REMOTE", endpoint)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    book = nbformat.read(path, as_version=4)
    # a last cell says which lake the notebook read: the small one, not the default data/lake
    book.cells.append(nbformat.v4.new_code_cell("print('LAKE=' + settings.lake_root)"))
    # and that it read it through the server, with no JVM of its own
    book.cells.append(
        nbformat.v4.new_code_cell(
            "from pyspark import SparkContext\nprint(type(spark).__module__, SparkContext._gateway)"
        )
    )
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

    def printed(cell) -> str:
        return "".join(o.get("text", "") for o in cell.get("outputs", [])).strip()

    assert printed(book.cells[-2]) == f"LAKE={small_lake}"
    assert printed(book.cells[-1]) == "pyspark.sql.connect.session None"
