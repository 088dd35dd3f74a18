"""Ground truth of the delivery process; it lives only here, the pipeline must learn it.

An order ships the same day when placed before the cutoff hour on a shipping day, otherwise on
the next shipping day. Carriers neither ship nor deliver on Sundays and holidays. Transit takes
a number of business days that depends on the shipping method, the warehouse-to-destination
distance and remote areas, plus a little noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MS_PER_SECOND = 1_000
MS_PER_HOUR = 3_600 * MS_PER_SECOND
MS_PER_DAY = 24 * MS_PER_HOUR

SHIPPING_METHODS = ("STANDARD", "EXPEDITED", "EXPRESS", "OVERNIGHT")
SHIPPING_METHOD_SHARES = (0.55, 0.20, 0.15, 0.10)
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
CARRIER_SHARES = (0.40, 0.30, 0.25, 0.05)
# Calendar days promised to the customer at checkout, per method.
NOMINAL_SLA_DAYS = {"STANDARD": 7, "EXPEDITED": 4, "EXPRESS": 2, "OVERNIGHT": 1}
BASE_TRANSIT_BUSINESS_DAYS = {"STANDARD": 3, "EXPEDITED": 3, "EXPRESS": 2, "OVERNIGHT": 1}
# One extra transit day per this many kilometres (None: the method does not depend on distance).
KM_PER_EXTRA_TRANSIT_DAY = {
    "STANDARD": 600.0,
    "EXPEDITED": 2_000.0,
    "EXPRESS": None,
    "OVERNIGHT": None,
}
MAX_DISTANCE_EXTRA_DAYS = 5
REMOTE_AREA_EXTRA_DAYS = {"STANDARD": 3, "EXPEDITED": 2, "EXPRESS": 1, "OVERNIGHT": 1}
TRANSIT_NOISE_DAYS = (-1, 0, 1, 2)
TRANSIT_NOISE_SHARES = (0.04, 0.78, 0.13, 0.05)
MIN_TRANSIT_BUSINESS_DAYS = 1

ORDER_CUTOFF_HOUR_UTC = 18
CARRIER_PICKUP_HOUR_UTC = 20
# Parcels arrive during US daytime, which is this range of UTC hours on the delivery date.
DELIVERY_HOURS_UTC = (14, 24)
SHARE_SHIPPED_FROM_NEAREST_WAREHOUSE = 0.85
# numpy weekmask: Monday..Saturday are shipping days, Sunday is not.
SHIPPING_WEEKMASK = "1111110"


def shipping_calendar(holiday_dates) -> np.busdaycalendar:
    """Business-day calendar of carriers: no Sundays, no holidays."""
    return np.busdaycalendar(
        weekmask=SHIPPING_WEEKMASK, holidays=np.asarray(sorted(holiday_dates), "datetime64[D]")
    )


@dataclass(frozen=True)
class DeliveryTruth:
    """When each parcel ships and arrives (epoch ms, UTC) and the date promised at checkout."""

    ship_ms: np.ndarray
    delivered_ms: np.ndarray
    promised_dates: list[str]


def choose_warehouses(
    rng: np.random.Generator, distances_km: np.ndarray, zip_index: np.ndarray
) -> np.ndarray:
    """Nearest warehouse for most orders, another one at random for the rest."""
    nearest = distances_km[zip_index].argmin(axis=1)
    warehouses = distances_km.shape[1]
    # Adding 1..n-1 modulo n picks uniformly among the other warehouses.
    other = (nearest + rng.integers(1, warehouses, len(zip_index))) % warehouses
    from_nearest = rng.random(len(zip_index)) < SHARE_SHIPPED_FROM_NEAREST_WAREHOUSE
    return np.where(from_nearest, nearest, other)


def transit_business_days(
    rng: np.random.Generator,
    method_index: np.ndarray,
    distance_km: np.ndarray,
    is_remote: np.ndarray,
) -> np.ndarray:
    """Business days in transit from ship date to delivery date."""
    days = np.zeros(len(method_index), dtype=np.int64)
    for i, method in enumerate(SHIPPING_METHODS):
        is_method = method_index == i
        days[is_method] = BASE_TRANSIT_BUSINESS_DAYS[method]
        days[is_method & is_remote] += REMOTE_AREA_EXTRA_DAYS[method]
        km_per_day = KM_PER_EXTRA_TRANSIT_DAY[method]
        if km_per_day is not None:
            extra = np.minimum(MAX_DISTANCE_EXTRA_DAYS, distance_km[is_method] // km_per_day)
            days[is_method] += extra.astype(np.int64)
    noise = rng.choice(TRANSIT_NOISE_DAYS, len(days), p=TRANSIT_NOISE_SHARES)
    return np.maximum(MIN_TRANSIT_BUSINESS_DAYS, days + noise)


def ship_days(order_ms: np.ndarray, calendar: np.busdaycalendar) -> np.ndarray:
    """Ship date of each order: same day before the cutoff on a shipping day, else the next one."""
    order_day = (order_ms // MS_PER_DAY).astype("datetime64[D]")
    order_hour = (order_ms % MS_PER_DAY) // MS_PER_HOUR
    ships_today = np.is_busday(order_day, busdaycal=calendar) & (order_hour < ORDER_CUTOFF_HOUR_UTC)
    # Rolling backward then adding one lands on the first shipping day strictly after the order.
    next_day = np.busday_offset(order_day, 1, roll="backward", busdaycal=calendar)
    return np.where(ships_today, order_day, next_day)


def simulate_deliveries(
    rng: np.random.Generator,
    order_ms: np.ndarray,
    method_index: np.ndarray,
    distance_km: np.ndarray,
    is_remote: np.ndarray,
    calendar: np.busdaycalendar,
) -> DeliveryTruth:
    """Ship and delivery times of a batch of orders."""
    ship_day = ship_days(order_ms, calendar)
    transit = transit_business_days(rng, method_index, distance_km, is_remote)
    delivery_day = np.busday_offset(ship_day, transit, roll="forward", busdaycal=calendar)
    lo, hi = DELIVERY_HOURS_UTC
    time_of_day = rng.integers(lo * MS_PER_HOUR, hi * MS_PER_HOUR, len(order_ms))
    ship_ms = ship_day.astype(np.int64) * MS_PER_DAY + CARRIER_PICKUP_HOUR_UTC * MS_PER_HOUR
    delivered_ms = delivery_day.astype(np.int64) * MS_PER_DAY + time_of_day
    sla = np.array([NOMINAL_SLA_DAYS[m] for m in SHIPPING_METHODS])[method_index]
    order_day = (order_ms // MS_PER_DAY).astype("datetime64[D]")
    promised = (order_day + sla.astype("timedelta64[D]")).astype(str).tolist()
    return DeliveryTruth(ship_ms=ship_ms, delivered_ms=delivered_ms, promised_dates=promised)
