"""The delivery ground truth follows carrier rules and carries learnable signal."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from landing_reader import read_csv

from lakehouse.generate.delivery import (
    NOMINAL_SLA_DAYS,
    SHIPPING_METHODS,
    ship_days,
    shipping_calendar,
    simulate_deliveries,
)
from lakehouse.generate.world import us_holidays

HOLIDAYS_2024 = [day for day, _ in us_holidays([2024, 2025])]
CALENDAR = shipping_calendar(HOLIDAYS_2024)
SUNDAY = 6


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("ordered", "ships"),
    [
        ("2024-11-16T17:59:00", "2024-11-16"),  # Saturday before the cutoff: same day
        ("2024-11-16T18:00:00", "2024-11-18"),  # Saturday after the cutoff: Sunday is off
        ("2024-11-17T09:00:00", "2024-11-18"),  # Sunday: next Monday
        ("2024-11-27T19:30:00", "2024-11-29"),  # Wednesday evening, Thanksgiving is off
        ("2024-11-28T08:00:00", "2024-11-29"),  # Thanksgiving morning
        ("2024-12-24T10:00:00", "2024-12-24"),  # Christmas Eve is a working day
    ],
)
def test_ship_day_respects_cutoff_sundays_and_holidays(ordered, ships):
    assert str(ship_days(np.array([_ms(ordered)]), CALENDAR)[0]) == ships


def _simulate(method: str, distance_km: float, is_remote: bool, order_ms: np.ndarray):
    rng = np.random.default_rng(1)
    n = len(order_ms)
    truth = simulate_deliveries(
        rng,
        order_ms,
        np.full(n, SHIPPING_METHODS.index(method)),
        np.full(n, distance_km),
        np.full(n, is_remote),
        CALENDAR,
    )
    days = (truth.delivered_ms // 86_400_000) - (order_ms // 86_400_000)
    return truth, days


ORDERS = np.random.default_rng(0).integers(
    _ms("2024-01-01T00:00:00"), _ms("2024-12-01T00:00:00"), 5_000
)


def test_deliveries_never_precede_the_order_nor_fall_on_sundays_or_holidays():
    holidays = set(HOLIDAYS_2024)
    for method in SHIPPING_METHODS:
        truth, days = _simulate(method, 1_500.0, False, ORDERS)
        assert (truth.delivered_ms > ORDERS).all() and (days >= 1).all()
        delivered = [
            dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date() for ms in truth.delivered_ms
        ]
        assert all(d.weekday() != SUNDAY and d not in holidays for d in delivered)
        expected = [
            (
                dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()
                + dt.timedelta(days=NOMINAL_SLA_DAYS[method])
            ).isoformat()
            for ms in ORDERS
        ]
        assert truth.promised_dates == expected


def test_method_distance_remoteness_and_cutoff_drive_delivery_time():
    mean = {m: _simulate(m, 800.0, False, ORDERS)[1].mean() for m in SHIPPING_METHODS}
    assert mean["OVERNIGHT"] < mean["EXPRESS"] < mean["EXPEDITED"] < mean["STANDARD"]
    near, far = (_simulate("STANDARD", km, False, ORDERS)[1].mean() for km in (100.0, 3_500.0))
    assert far > near + 3
    assert _simulate("STANDARD", 800.0, True, ORDERS)[1].mean() > mean["STANDARD"] + 2
    hour = (ORDERS % 86_400_000) // 3_600_000
    days = _simulate("EXPRESS", 800.0, False, ORDERS)[1]
    assert days[hour >= 18].mean() > days[hour < 18].mean() + 0.5


def _haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_generated_checkouts_follow_the_rules(anomalous_landing):
    landing = anomalous_landing
    reference = landing.root / "reference"
    zips = {r["zip_code"]: r for r in read_csv(reference / "zip_codes.csv")}
    warehouses = {r["warehouse_id"]: r for r in read_csv(reference / "warehouses.csv")}
    period_end = dt.datetime.combine(
        landing.start + dt.timedelta(days=landing.days), dt.time(), dt.UTC
    )
    delivered = nearest = checked = 0
    for record in landing.ingestible:
        source = record.source
        if source is None or source["eventType"] != "CHECKOUT_COMPLETED":
            continue
        created = source.get("createdDateTime")
        if not isinstance(created, int) or created < 10**11:
            continue  # anomalous timestamps are checked elsewhere
        ordered = dt.datetime.fromtimestamp(created / 1000, dt.UTC)
        shipping = source["shipping"]
        sla = dt.timedelta(days=NOMINAL_SLA_DAYS[shipping["method"]])
        assert shipping["promisedDeliveryDate"] == (ordered.date() + sla).isoformat()
        if source.get("delivery", {}).get("status") == "DELIVERED":
            arrived = dt.datetime.fromtimestamp(
                source["delivery"]["deliveredDateTime"] / 1000, dt.UTC
            )
            assert ordered.date() < arrived.date() and arrived < period_end
            assert (
                arrived.weekday() != SUNDAY and arrived.date().isoformat() not in landing.holidays
            )
            delivered += 1
        zip_code = shipping["address"]["zipCode"]
        if shipping.get("warehouseId") and zip_code in zips:
            destination = zips[zip_code]
            distance = {
                wid: _haversine(
                    float(w["latitude"]),
                    float(w["longitude"]),
                    float(destination["latitude"]),
                    float(destination["longitude"]),
                )
                for wid, w in warehouses.items()
            }
            nearest += shipping["warehouseId"] == min(distance, key=distance.get)
            checked += 1
    assert delivered > 100
    assert 0.75 < nearest / checked < 0.95, "most orders ship from the nearest warehouse"
