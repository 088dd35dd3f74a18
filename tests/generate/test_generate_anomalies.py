"""Every anomaly shows up with real values, and anomaly_rate=0 gives clean data."""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid

import numpy as np
from landing_reader import (
    CONTRACT_ADDRESS,
    CONTRACT_CART_ITEM,
    CONTRACT_CUSTOMER,
    CONTRACT_TOP_LEVEL,
    anomalies_of,
)

from lakehouse.contract import example_session_document
from lakehouse.generate.anomalies import ALL_ANOMALIES, inject_document_anomalies, iso_millis
from lakehouse.generate.sessions import CHECKOUT_COMPLETED, PRODUCT_VIEW

# The contract's worked example: 2024-11-17 21:53:01.293 UTC.
EXAMPLE_MS = 1731880381293
MS_PER_DAY = 86_400_000


def _period_ms(landing) -> tuple[int, int]:
    start = dt.datetime.combine(landing.start, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=landing.days + 1)  # sessions may run past midnight
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _records_with(landing, anomaly: str):
    return [
        r
        for r in landing.ingestible
        if r.source is not None and anomaly in anomalies_of(r, landing.zip_codes)
    ]


def test_every_anomaly_appears_at_a_high_rate(anomalous_landing):
    counts = anomalous_landing.manifest["anomalies"]
    assert set(counts) == set(ALL_ANOMALIES)
    assert all(counts[name] > 0 for name in ALL_ANOMALIES), counts


def test_created_variants_keep_the_instant(anomalous_landing):
    lo, hi = _period_ms(anomalous_landing)
    for anomaly, to_ms in {
        "created_numeric_string": int,
        "created_epoch_seconds": lambda s: s * 1000,
        "created_iso_utc": lambda s: int(dt.datetime.fromisoformat(s).timestamp() * 1000),
        "created_iso_offset": lambda s: int(dt.datetime.fromisoformat(s).timestamp() * 1000),
    }.items():
        records = _records_with(anomalous_landing, anomaly)
        assert records, anomaly
        for record in records:
            assert lo <= to_ms(record.source["createdDateTime"]) < hi, (anomaly, record.source)
    for record in _records_with(anomalous_landing, "created_iso_offset"):
        parsed = dt.datetime.fromisoformat(record.source["createdDateTime"])
        assert parsed.utcoffset() == dt.timedelta(hours=2)


def test_zip_variants(anomalous_landing):
    zips = anomalous_landing.zip_codes
    as_numbers = [
        r.source["shipping"]["address"]["zipCode"]
        for r in _records_with(anomalous_landing, "zip_as_number")
    ]
    assert as_numbers and all(isinstance(z, int) and z < 10_000 for z in as_numbers)
    assert all(f"{z:05d}" in zips for z in as_numbers)
    for record in _records_with(anomalous_landing, "zip_plus4"):
        zip_code = record.source["shipping"]["address"]["zipCode"]
        assert re.fullmatch(r"\d{5}-\d{4}", zip_code) and zip_code[:5] in zips
    for record in _records_with(anomalous_landing, "zip_not_in_reference"):
        zip_code = record.source["shipping"]["address"]["zipCode"]
        assert re.fullmatch(r"\d{5}", zip_code) and zip_code not in zips


def test_hits_without_id_fall_back_to_a_unique_hit_id(anomalous_landing):
    records = _records_with(anomalous_landing, "missing_id_in_hit")
    ids = [r.hit["_id"] for r in records]
    assert ids and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_malformed_lines_only_in_ndjson_files(anomalous_landing):
    for export in anomalous_landing.files:
        malformed = sum(r.source is None for r in export.records)
        if export.shape == "search_response" or export.in_flight:
            assert malformed == 0
    assert anomalous_landing.manifest["totals"]["malformed_lines"] > 0


def test_unknown_fields_appear_at_every_level(anomalous_landing):
    sources = [r.source for r in anomalous_landing.ingestible if r.source is not None]
    assert any(set(s) - CONTRACT_TOP_LEVEL for s in sources)
    assert any(set(s.get("customer", {})) - CONTRACT_CUSTOMER for s in sources)
    assert any(
        set(i) - CONTRACT_CART_ITEM for s in sources for i in s.get("cart", {}).get("items", [])
    )
    assert any(set(s["shipping"]["address"]) - CONTRACT_ADDRESS for s in sources if "shipping" in s)


def _checkout(customer: dict) -> dict:
    return example_session_document(
        without=("delivery", "customer"),
        changes={
            "sessionId": "7f0c2a4e-0000-4000-8000-000000000000",
            "createdDateTime": EXAMPLE_MS,
            "customer": customer,
            "device": {"ipAddress": "24.1.2.3"},
            "shipping": {
                "promisedDeliveryDate": "2024-11-24",
                "address": {"city": "Cambridge", "state": "MA", "zipCode": "02139"},
            },
        },
    )


def test_injected_values_are_exact_and_shared_objects_untouched():
    customer = {
        "customerId": "C-104233",
        "email": "jane.doe@example.com",
        "firstName": "Jane",
        "lastName": "Doe",
        "phone": "+1-503-555-0100",
        "loyaltyTier": "GOLD",
    }
    docs = [_checkout(customer) for _ in range(700)]
    docs.append({**_checkout(customer), "eventType": "PRODUCT_VIEW"})
    docs[-1].pop("shipping")
    originals = copy.deepcopy(docs)
    event_type = np.array([CHECKOUT_COMPLETED] * 700 + [PRODUCT_VIEW])
    rng = np.random.default_rng(0)
    inject_document_anomalies(docs, event_type, rng, 1 / 7, frozenset({"02139"}))

    created = {
        "created_numeric_string": "1731880381293",
        "created_iso_utc": "2024-11-17T21:53:01.293Z",
        "created_iso_offset": "2024-11-17T23:53:01.293+02:00",
        "created_epoch_seconds": 1731880381,
        "created_null": None,
    }
    assert iso_millis(EXAMPLE_MS) == created["created_iso_utc"]
    seen = set()
    for doc in docs:
        value = doc.get("createdDateTime", "<missing>")
        if value == "<missing>":
            seen.add("created_missing")
        elif value in created.values():
            seen.add(next(k for k, v in created.items() if v == value))
        else:
            assert isinstance(value, str) and not value.isdigit()
            seen.add("created_unparseable")
        zip_code = doc.get("shipping", {}).get("address", {}).get("zipCode")
        assert (
            zip_code is None
            or zip_code in {"02139", 2139}
            or re.fullmatch(r"\d{5}(-\d{4})?", zip_code)
        )
    assert seen == {*created, "created_missing", "created_unparseable"}
    assert {d["shipping"]["address"]["zipCode"] for d in docs[:700]} >= {"02139", 2139}
    # The shared customer object and the clean copies' nested objects were never mutated.
    assert customer == originals[0]["customer"]
    assert all("marketingOptIn" not in d["customer"] for d in originals)


def test_clean_landing_has_no_anomalies(clean_landing):
    counts = clean_landing.manifest["anomalies"]
    lifecycle = {"delivery_reexport"}
    assert all(counts[name] == 0 for name in ALL_ANOMALIES if name not in lifecycle), counts
    lo, hi = _period_ms(clean_landing)
    records = clean_landing.ingestible
    assert all(r.source is not None for r in records)
    for record in records:
        source = record.source
        assert isinstance(source["createdDateTime"], int) and lo <= source["createdDateTime"] < hi
        assert "id" in source and set(source["customer"]) == CONTRACT_CUSTOMER
        assert all(set(item) == CONTRACT_CART_ITEM for item in source["cart"]["items"])
        if source["eventType"] == "CHECKOUT_COMPLETED":
            address = source["shipping"]["address"]
            assert set(address) == CONTRACT_ADDRESS and "warehouseId" in source["shipping"]
            assert isinstance(address["zipCode"], str) and len(address["zipCode"]) == 5
            assert address["zipCode"] in clean_landing.zip_codes
        else:
            assert "shipping" not in source and "delivery" not in source
        assert set(source) <= CONTRACT_TOP_LEVEL
