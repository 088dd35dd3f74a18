"""Generated documents follow the contract shape and behave like shopping sessions."""

from __future__ import annotations

import datetime as dt
import re
import statistics
import uuid
from collections import defaultdict

import pytest

EVENT_ORDER = {"SESSION_START": 0, "PRODUCT_VIEW": 1, "ADD_TO_CART": 1, "CHECKOUT_COMPLETED": 2}
OS_BY_DEVICE = {
    "MOBILE": {"iOS", "Android"},
    "DESKTOP": {"Windows", "macOS", "Linux"},
    "TABLET": {"iPadOS", "Android"},
}


@pytest.fixture(scope="module")
def sessions(clean_landing) -> dict[str, list[dict]]:
    """Newest copy of every document, grouped by session, in event-time order."""
    newest = {}
    for record in clean_landing.ingestible:
        newest[record.record_id] = record.source
    by_session = defaultdict(list)
    for source in newest.values():
        by_session[source["sessionId"]].append(source)
    return {
        sid: sorted(docs, key=lambda d: d["createdDateTime"]) for sid, docs in by_session.items()
    }


def test_documents_have_exactly_the_contract_shape(clean_landing):
    base = ["id", "sessionId", "createdDateTime", "eventType", "customer", "device", "cart"]
    for record in clean_landing.ingestible:
        source = record.source
        keys = list(source)
        if source["eventType"] == "CHECKOUT_COMPLETED":
            assert keys in ([*base, "shipping"], [*base, "shipping", "delivery"])
            assert list(source["shipping"]) == [
                "method",
                "carrier",
                "warehouseId",
                "promisedDeliveryDate",
                "address",
            ]
            assert list(source["shipping"]["address"]) == [
                "line1",
                "city",
                "state",
                "zipCode",
                "country",
            ]
        else:
            assert keys == base
        assert uuid.UUID(source["id"]).version == 4 and uuid.UUID(source["sessionId"]).version == 4
        assert list(source["device"]) == ["type", "os", "appVersion", "ipAddress"]
        assert source["device"]["os"] in OS_BY_DEVICE[source["device"]["type"]]
        assert source["cart"]["currency"] == "USD"


def test_hits_name_the_daily_index_of_the_event(clean_landing):
    hits = [r for r in clean_landing.ingestible if r.hit is not None]
    assert hits
    for record in hits:
        day = dt.datetime.fromtimestamp(record.source["createdDateTime"] / 1000, dt.UTC)
        assert record.hit["_index"] == f"sessions-{day:%Y.%m.%d}"
        assert record.hit["_id"] == record.source["id"] and record.hit["_score"] == 1.0


def test_sessions_flow_from_start_to_checkout(sessions):
    for docs in sessions.values():
        times = [d["createdDateTime"] for d in docs]
        assert times == sorted(set(times)), "strictly increasing within a session"
        assert max(times) - min(times) < 3 * 3_600_000
        order = [EVENT_ORDER[d["eventType"]] for d in docs]
        assert order == sorted(order) and docs[0]["eventType"] == "SESSION_START"
        assert sum(d["eventType"] == "CHECKOUT_COMPLETED" for d in docs) <= 1
        assert len({d["customer"]["customerId"] for d in docs}) == 1
        assert len({d["device"]["ipAddress"] for d in docs}) == 1
    complete = [docs for docs in sessions.values() if len(docs) > 2]
    share = sum(docs[-1]["eventType"] == "CHECKOUT_COMPLETED" for docs in complete) / len(complete)
    assert 0.35 <= share <= 0.45


def test_carts_grow_with_adds_and_checkouts_hold_one_to_six_items(sessions):
    for docs in sessions.values():
        sizes = [sum(i["quantity"] for i in d["cart"]["items"]) for d in docs]
        assert sizes == sorted(sizes), "a cart only grows during a session"
        for doc in docs:
            if doc["eventType"] == "CHECKOUT_COMPLETED":
                assert 1 <= len(doc["cart"]["items"]) <= 6
            for item in doc["cart"]["items"]:
                assert re.fullmatch(r"SKU-\d{6}", item["sku"]) and item["quantity"] >= 1
                assert item["unitPrice"] > 0 and item["weightKg"] > 0


def test_prices_and_weights_are_realistic_per_category(clean_landing):
    prices, weights = defaultdict(list), defaultdict(list)
    sku_attributes = {}
    for record in clean_landing.ingestible:
        for item in record.source["cart"]["items"]:
            attributes = (
                item["productName"],
                item["category"],
                item["unitPrice"],
                item["weightKg"],
            )
            assert sku_attributes.setdefault(item["sku"], attributes) == attributes, "stable SKUs"
            prices[item["category"]].append(item["unitPrice"])
            weights[item["category"]].append(item["weightKg"])
    median = {c: statistics.median(v) for c, v in prices.items()}
    assert median["electronics"] > 3 * median["books"]
    assert statistics.median(weights["kitchen"]) > statistics.median(weights["beauty"])


def test_customers_recur_with_stable_identities(clean_landing, sessions):
    profiles = {}
    for record in clean_landing.ingestible:
        customer = record.source["customer"]
        assert re.fullmatch(r"C-\d{6}", customer["customerId"])
        assert customer["loyaltyTier"] in {"BRONZE", "SILVER", "GOLD", "PLATINUM"}
        assert profiles.setdefault(customer["customerId"], customer) == customer
    sessions_per_customer = defaultdict(int)
    for docs in sessions.values():
        sessions_per_customer[docs[0]["customer"]["customerId"]] += 1
    assert len(profiles) < len(sessions) / 2
    assert max(sessions_per_customer.values()) >= 5
