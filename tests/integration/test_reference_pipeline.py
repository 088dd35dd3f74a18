"""The reference step: three CSVs loaded side by side into Silver, bad rows into one quarantine."""

from pyspark.sql import functions as F

from lakehouse.config import load_settings
from lakehouse.io.delta import latest_version, read_table
from lakehouse.pipeline.reference import QUARANTINE_REFERENCE, load_reference_data
from lakehouse.tables import SILVER_HOLIDAYS, SILVER_WAREHOUSES, SILVER_ZIP_CODES

CSVS = {
    "zip_codes.csv": "zip_code,city,state,latitude,longitude,is_remote_area\n"
    "01101,Springfield,MA,41.9624,-72.5619,false\n"
    "2139,Cambridge,MA,42.3751,-71.1056,no\n"
    "ABCDE,Nowhere,ZZ,1.0,1.0,false\n",
    "warehouses.csv": "warehouse_id,zip_code,latitude,longitude\n"
    "wh-01,07114,40.7070,-74.1740\n"
    "WH-02,30354,933.6590,-84.3910\n",
    "holidays.csv": "date,name,country\n2024-01-01,New Year's Day,US\nnot-a-date,Bad,US\n",
}


def _settings(tmp_path):
    landing = tmp_path / "landing"
    (landing / "reference").mkdir(parents=True)
    for name, text in CSVS.items():
        (landing / "reference" / name).write_text(text)
    return load_settings("local", landing=str(landing), lake=str(tmp_path / "lake"))


def test_every_table_loads_and_every_bad_row_is_quarantined_once(spark, tmp_path):
    settings = _settings(tmp_path)
    reports = load_reference_data(spark, settings)
    assert [r.table for r in reports] == [
        t.key for t in (SILVER_ZIP_CODES, SILVER_WAREHOUSES, SILVER_HOLIDAYS)
    ]
    zips = read_table(spark, settings.table_path(*SILVER_ZIP_CODES))
    assert sorted(r["zip_code"] for r in zips.collect()) == ["01101", "02139"]
    warehouses = read_table(spark, settings.table_path(*SILVER_WAREHOUSES)).collect()
    assert [r["warehouse_id"] for r in warehouses] == ["WH-01"]
    assert read_table(spark, settings.table_path(*SILVER_HOLIDAYS)).count() == 1

    quarantine_path = settings.table_path(*QUARANTINE_REFERENCE)
    quarantine = read_table(spark, quarantine_path).select("reference_table", "reason")
    assert sorted(tuple(r) for r in quarantine.collect()) == [
        ("holidays", "invalid_date"),
        ("warehouses", "invalid_coordinates"),
        ("zip_codes", "invalid_zip_code"),
    ]
    versions = {
        path: latest_version(spark, path)
        for path in [quarantine_path, *(settings.table_path(*t) for t in (SILVER_ZIP_CODES,))]
    }
    load_reference_data(spark, settings)  # unchanged input: nothing new anywhere
    assert {path: latest_version(spark, path) for path in versions} == versions
    assert read_table(spark, quarantine_path).where(F.col("reason").isNotNull()).count() == 3


def test_no_reference_files_creates_nothing(spark, tmp_path):
    settings = load_settings("local", landing=str(tmp_path / "empty"), lake=str(tmp_path / "lake"))
    reports = load_reference_data(spark, settings)
    assert all(r.skipped_reason for r in reports)
    assert latest_version(spark, settings.table_path(*QUARANTINE_REFERENCE)) is None
