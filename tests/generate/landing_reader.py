"""A plain-Python reader of the landing zone, written independently of the generator.

It knows only the contract: file names starting with ``_`` or ``.`` are in flight, ``.gz``
files are gzip, ``.json`` files hold one search response, other files hold NDJSON lines of
hits or bare documents.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

IN_FLIGHT_PREFIXES = ("_", ".")


@dataclass
class Record:
    """One record: an NDJSON line or a hit. ``source`` is None for a malformed line."""

    path: str
    mtime_ns: int
    in_flight: bool
    source: dict | None
    hit: dict | None = None

    @property
    def record_id(self) -> str | None:
        if self.source is None:
            return None
        return self.source.get("id") or (self.hit or {}).get("_id")


@dataclass
class ExportFile:
    path: str
    mtime_ns: int
    in_flight: bool
    is_gzip: bool
    shape: str
    records: list[Record] = field(default_factory=list)


def _shape_of_line(obj: dict) -> str:
    return "hits_ndjson" if "_source" in obj else "source_ndjson"


def read_export_file(root: Path, path: Path) -> ExportFile:
    """Parse one export file in whatever shape it is."""
    relative = path.relative_to(root).as_posix()
    in_flight = path.name.startswith(IN_FLIGHT_PREFIXES)
    name = path.name.removesuffix(".tmp")
    is_gzip = name.endswith(".gz")
    data = gzip.decompress(path.read_bytes()) if is_gzip else path.read_bytes()
    mtime = os.stat(path).st_mtime_ns
    if name.removesuffix(".gz").endswith(".json"):
        response = json.loads(data)
        export = ExportFile(relative, mtime, in_flight, is_gzip, "search_response")
        for hit in response["hits"]["hits"]:
            export.records.append(Record(relative, mtime, in_flight, hit["_source"], hit))
        return export
    records, shapes = [], set()
    for line in data.decode("utf-8").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            records.append(Record(relative, mtime, in_flight, None))
            continue
        shapes.add(_shape_of_line(obj))
        if "_source" in obj:
            records.append(Record(relative, mtime, in_flight, obj["_source"], obj))
        else:
            records.append(Record(relative, mtime, in_flight, obj))
    if len(shapes) != 1:
        raise AssertionError(f"{relative} mixes shapes {shapes}")
    export = ExportFile(relative, mtime, in_flight, is_gzip, shapes.pop())
    export.records = records
    return export


def read_sessions(root: Path) -> list[ExportFile]:
    """Every export file under ``root/sessions``, in modification-time order."""
    files = [p for p in (root / "sessions").rglob("*") if p.is_file()]
    return sorted((read_export_file(root, p) for p in files), key=lambda f: f.mtime_ns)


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file, every value as text."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# Judging records against the contract (CONTRACT section 1.1).

CONTRACT_TOP_LEVEL = {
    "id",
    "sessionId",
    "createdDateTime",
    "eventType",
    "customer",
    "device",
    "cart",
    "shipping",
    "delivery",
}
CONTRACT_CUSTOMER = {"customerId", "email", "firstName", "lastName", "phone", "loyaltyTier"}
CONTRACT_CART_ITEM = {"sku", "productName", "category", "quantity", "unitPrice", "weightKg"}
CONTRACT_ADDRESS = {"line1", "city", "state", "zipCode", "country"}
EPOCH_SECONDS_LIMIT = 10**11


def _is_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _created_anomaly(source: dict) -> str | None:
    if "createdDateTime" not in source:
        return "created_missing"
    value = source["createdDateTime"]
    if value is None:
        return "created_null"
    if isinstance(value, str):
        if value.isdigit():
            return "created_numeric_string"
        if value.endswith("Z") and _is_iso(value):
            return "created_iso_utc"
        if value.endswith("+02:00") and _is_iso(value):
            return "created_iso_offset"
        return "created_unparseable"
    if value < EPOCH_SECONDS_LIMIT:
        return "created_epoch_seconds"
    return None


def _zip_anomaly(zip_code, reference: set[str]) -> str | None:
    if isinstance(zip_code, int):
        return "zip_as_number"
    if "-" in zip_code:
        return "zip_plus4"
    if zip_code not in reference:
        return "zip_not_in_reference"
    return None


def anomalies_of(record, reference_zips: set[str]) -> set[str]:
    """Anomalies visible in one parsed record, judged from the contract alone."""
    source = record.source
    found = {_created_anomaly(source)}
    if "customer" not in source:
        found.add("missing_customer")
    elif set(source["customer"]) - CONTRACT_CUSTOMER:
        found.add("extra_field_customer")
    if "cart" not in source:
        found.add("missing_cart")
    elif any(set(item) - CONTRACT_CART_ITEM for item in source["cart"]["items"]):
        found.add("extra_field_cart_item")
    if set(source) - CONTRACT_TOP_LEVEL:
        found.add("extra_field_top_level")
    if "shipping" in source:
        shipping = source["shipping"]
        if "warehouseId" not in shipping:
            found.add("missing_warehouse_id")
        if set(shipping["address"]) - CONTRACT_ADDRESS:
            found.add("extra_field_address")
        found.add(_zip_anomaly(shipping["address"]["zipCode"], reference_zips))
    if record.hit is not None and "id" not in source:
        found.add("missing_id_in_hit")
    return found - {None}


def _without_delivery(source: dict, record_id: str) -> dict:
    return {**{k: v for k, v in source.items() if k != "delivery"}, "id": record_id}


def is_delivered(source: dict) -> bool:
    return source.get("delivery", {}).get("status") == "DELIVERED"


def classify_reexports(records) -> tuple[Counter, dict[str, object]]:
    """Count later copies of a record as duplicates or delivery updates; return newest copies."""
    by_id = defaultdict(list)
    for record in records:
        if record.source is not None:
            by_id[record.record_id].append(record)
    found = Counter()
    for record_id, copies in by_id.items():
        first = copies[0]
        for later in copies[1:]:
            assert later.mtime_ns > first.mtime_ns, f"{record_id} re-exported in an older file"
            same_rest = _without_delivery(later.source, record_id) == _without_delivery(
                first.source, record_id
            )
            assert same_rest, f"{record_id} changed more than its delivery"
            if later.source.get("delivery") == first.source.get("delivery"):
                found["duplicate_export"] += 1
            else:
                assert is_delivered(later.source) and not is_delivered(first.source)
                assert later.source["delivery"]["deliveredDateTime"] > 0
                found["delivery_reexport"] += 1
    return found, {rid: copies[-1] for rid, copies in by_id.items()}
