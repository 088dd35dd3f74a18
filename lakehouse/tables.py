"""Names of the lake's tables: ``<lake>/<layer>/<name>`` (CONTRACT section 2)."""

from __future__ import annotations

from typing import NamedTuple


class Table(NamedTuple):
    """A table's place in the lake."""

    layer: str
    name: str

    @property
    def key(self) -> str:
        """``layer/name``, as used in lineage records and on the command line."""
        return f"{self.layer}/{self.name}"


BRONZE_SESSIONS = Table("bronze", "sessions")
SILVER_SESSIONS = Table("silver", "sessions")
QUARANTINE_SESSIONS = Table("quarantine", "sessions")
SILVER_ZIP_CODES = Table("silver", "zip_codes")
SILVER_WAREHOUSES = Table("silver", "warehouses")
SILVER_HOLIDAYS = Table("silver", "holidays")
GOLD_DELIVERY_FEATURES = Table("gold", "delivery_features")
BATCH_LEDGER = Table("audit", "batch_ledger")

ALL_TABLES = (
    BRONZE_SESSIONS,
    SILVER_SESSIONS,
    QUARANTINE_SESSIONS,
    SILVER_ZIP_CODES,
    SILVER_WAREHOUSES,
    SILVER_HOLIDAYS,
    GOLD_DELIVERY_FEATURES,
    BATCH_LEDGER,
)


def parse_table(key: str) -> Table:
    """``"gold/delivery_features"`` -> ``Table("gold", "delivery_features")``."""
    layer, sep, name = key.strip("/").partition("/")
    if not sep or not name or "/" in name:
        raise ValueError(f"a table is named layer/name, e.g. gold/delivery_features; got {key!r}")
    return Table(layer, name)
