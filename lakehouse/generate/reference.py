"""Reference tables of the landing zone: zip codes, warehouses and holidays (CONTRACT 1.3)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from lakehouse.generate.geography import COORDINATE_DECIMALS, WAREHOUSES, build_zip_table
from lakehouse.generate.world import HOLIDAY_COUNTRY, us_holidays

REFERENCE_DIR = "reference"
ZIP_CODES_FILE = "zip_codes.csv"
WAREHOUSES_FILE = "warehouses.csv"
HOLIDAYS_FILE = "holidays.csv"
ZIP_CODE_COLUMNS = ("zip_code", "city", "state", "latitude", "longitude", "is_remote_area")
WAREHOUSE_COLUMNS = ("warehouse_id", "zip_code", "latitude", "longitude")
HOLIDAY_COLUMNS = ("date", "name", "country")
CSV_LINE_TERMINATOR = "\n"


def _coordinate(value: float) -> str:
    return f"{value:.{COORDINATE_DECIMALS}f}"


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[tuple]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=CSV_LINE_TERMINATOR)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_reference_data(out: Path, *, seed: int = 42, years: Iterable[int]) -> dict:
    """Write ``out/reference/{zip_codes,warehouses,holidays}.csv``.

    Use the seed given to ``generate_sessions_landing``: the sessions' addresses and delivery
    times are drawn from the same zip table. ``years`` should cover the event years and the
    year after (``lakehouse.generate.holiday_years`` computes them).

    Args:
        out: landing root.
        seed: seed of the zip table (coordinates and which zip codes exist).
        years: calendar years of the holidays table.

    Returns:
        Relative path and row count of each table.
    """
    root = Path(out) / REFERENCE_DIR
    zips = build_zip_table(seed)
    zip_rows = (
        (code, city, state, _coordinate(lat), _coordinate(lon), "true" if remote else "false")
        for code, city, state, lat, lon, remote in zip(
            zips.zip_codes,
            zips.cities,
            zips.states,
            zips.latitudes,
            zips.longitudes,
            zips.is_remote,
            strict=True,
        )
    )
    warehouse_rows = (
        (w.warehouse_id, w.zip_code, _coordinate(w.latitude), _coordinate(w.longitude))
        for w in WAREHOUSES
    )
    holiday_rows = ((day.isoformat(), name, HOLIDAY_COUNTRY) for day, name in us_holidays(years))
    summary = {}
    for file, header, rows in (
        (ZIP_CODES_FILE, ZIP_CODE_COLUMNS, zip_rows),
        (WAREHOUSES_FILE, WAREHOUSE_COLUMNS, warehouse_rows),
        (HOLIDAYS_FILE, HOLIDAY_COLUMNS, holiday_rows),
    ):
        count = _write_csv(root / file, header, rows)
        summary[file.removesuffix(".csv")] = {"path": f"{REFERENCE_DIR}/{file}", "rows": count}
    return summary
