"""Reference tables: plausible zip codes with their leading zeros, warehouses, holidays."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from landing_reader import read_csv

from lakehouse.generate import holiday_years, write_reference_data


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    summary = write_reference_data(root, seed=3, years=[2024, 2025])
    tables = {name: read_csv(root / "reference" / f"{name}.csv") for name in summary}
    return root, summary, tables


def test_files_and_columns(reference):
    root, summary, tables = reference
    assert summary == {
        "zip_codes": {"path": "reference/zip_codes.csv", "rows": len(tables["zip_codes"])},
        "warehouses": {"path": "reference/warehouses.csv", "rows": len(tables["warehouses"])},
        "holidays": {"path": "reference/holidays.csv", "rows": len(tables["holidays"])},
    }
    header = (root / "reference" / "zip_codes.csv").read_text().splitlines()[0]
    assert header == "zip_code,city,state,latitude,longitude,is_remote_area"
    assert list(tables["warehouses"][0]) == ["warehouse_id", "zip_code", "latitude", "longitude"]
    assert list(tables["holidays"][0]) == ["date", "name", "country"]


def test_zip_codes_keep_leading_zeros_and_are_plausible(reference):
    rows = reference[2]["zip_codes"]
    codes = [r["zip_code"] for r in rows]
    assert 1_500 <= len(codes) <= 3_000 and len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"\d{5}", c) for c in codes)
    by_code = {r["zip_code"]: r for r in rows}
    assert by_code["02139"]["city"] == "Cambridge" and by_code["02139"]["state"] == "MA"
    assert {c[:2] for c in codes} >= {"01", "02", "06", "07"}
    for row in rows:
        assert 18.0 < float(row["latitude"]) < 72.0 and -170.0 < float(row["longitude"]) < -66.0
        assert row["is_remote_area"] in {"true", "false"}
        if row["state"] in {"AK", "HI"}:
            assert row["is_remote_area"] == "true"
        if row["city"] in {"New York", "Chicago", "Boston"}:
            assert row["is_remote_area"] == "false"
    remote_states = {r["state"] for r in rows if r["is_remote_area"] == "true"}
    assert remote_states >= {"AK", "HI", "MT", "WY"}
    assert {c[:3] for c in codes if by_code[c]["state"] == "AK"} == {"995", "997", "998", "999"}


def test_warehouses_sit_on_known_zip_codes(reference):
    tables = reference[2]
    zips = {r["zip_code"]: r for r in tables["zip_codes"]}
    ids = [w["warehouse_id"] for w in tables["warehouses"]]
    assert 8 <= len(ids) <= 10 and ids == [f"WH-{i:02d}" for i in range(1, len(ids) + 1)]
    for warehouse in tables["warehouses"]:
        assert zips[warehouse["zip_code"]]["latitude"] == warehouse["latitude"]
    assert "07114" in {w["zip_code"] for w in tables["warehouses"]}


def test_holidays_cover_the_requested_years(reference):
    rows = reference[2]["holidays"]
    assert {r["country"] for r in rows} == {"US"}
    assert {r["date"][:4] for r in rows} == {"2024", "2025"}
    by_date = {r["date"]: r["name"] for r in rows}
    assert by_date["2024-11-28"] == "Thanksgiving Day" and by_date["2025-12-25"] == "Christmas Day"
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in by_date)


def test_same_seed_same_tables_other_seed_other_coordinates(reference, tmp_path):
    root = reference[0]
    write_reference_data(tmp_path / "same", seed=3, years=[2024, 2025])
    write_reference_data(tmp_path / "other", seed=4, years=[2024, 2025])
    for name in ("zip_codes", "warehouses", "holidays"):
        original = (root / "reference" / f"{name}.csv").read_bytes()
        assert (tmp_path / "same" / "reference" / f"{name}.csv").read_bytes() == original
    other = (tmp_path / "other" / "reference" / "zip_codes.csv").read_bytes()
    assert other != (root / "reference" / "zip_codes.csv").read_bytes()


def test_holiday_years_cover_the_events_and_the_year_after():
    assert holiday_years(dt.date(2024, 1, 1), 365) == (2024, 2025)
    assert holiday_years(dt.date(2024, 12, 1), 60) == (2024, 2025, 2026)
