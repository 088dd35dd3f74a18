"""Shopping sessions as Elasticsearch ``_source`` documents (CONTRACT section 1.1).

A session is SESSION_START, some PRODUCT_VIEW and ADD_TO_CART events in random order (it
always browses before it adds), and for part of the sessions with a cart a final
CHECKOUT_COMPLETED. Documents are built clean here; anomalies are injected afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from lakehouse.contract import EVENT_TYPES
from lakehouse.generate.customers import draw_devices, street_lines
from lakehouse.generate.delivery import (
    CARRIER_SHARES,
    CARRIERS,
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_SECOND,
    SHIPPING_METHOD_SHARES,
    SHIPPING_METHODS,
    choose_warehouses,
    simulate_deliveries,
)
from lakehouse.generate.world import World, sample_from_cdf

SESSION_START, PRODUCT_VIEW, ADD_TO_CART, CHECKOUT_COMPLETED = range(len(EVENT_TYPES))
CURRENCY = "USD"
COUNTRY = "US"

VIEWS_PER_SESSION = (1, 2, 3, 4, 5, 6, 7, 8)
VIEWS_PER_SESSION_SHARES = (0.22, 0.20, 0.16, 0.13, 0.10, 0.08, 0.06, 0.05)
ADDS_PER_SESSION = (0, 1, 2, 3, 4, 5, 6)
ADDS_PER_SESSION_SHARES = (0.22, 0.28, 0.20, 0.13, 0.08, 0.05, 0.04)
# With 78% of sessions holding a cart, about 40% of all sessions check out.
CHECKOUT_SHARE_OF_CARTS = 0.52
QUANTITIES = (1, 2, 3, 4)
QUANTITY_SHARES = (0.72, 0.18, 0.07, 0.03)
SHARE_OF_ADDS_FROM_SESSION_CATEGORY = 0.7
SHARE_SHIPPED_TO_HOME_ADDRESS = 0.9

MEAN_EVENT_GAP_MS = 45 * MS_PER_SECOND
MIN_EVENT_GAP_MS = 1 * MS_PER_SECOND
MAX_EVENT_GAP_MS = 600 * MS_PER_SECOND
MAX_EVENTS_PER_SESSION = 1 + VIEWS_PER_SESSION[-1] + ADDS_PER_SESSION[-1] + 1
MAX_SESSION_SPAN_MS = (MAX_EVENTS_PER_SESSION - 1) * MAX_EVENT_GAP_MS

# Relative traffic by UTC hour (US evenings peak around 00-02 UTC) and by weekday (Mon..Sun).
TRAFFIC_BY_UTC_HOUR = (
    1.00, 1.00, 0.90, 0.75, 0.55, 0.40, 0.30, 0.22, 0.20, 0.22, 0.30, 0.40,
    0.55, 0.65, 0.72, 0.78, 0.80, 0.82, 0.85, 0.88, 0.90, 0.93, 0.96, 1.00,
)  # fmt: skip
TRAFFIC_BY_WEEKDAY = (1.00, 0.95, 0.95, 0.97, 1.00, 0.90, 1.05)
# 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
EPOCH_WEEKDAY = 3
# Candidate session starts drawn per accepted start (acceptance is above 1/5).
START_OVERSAMPLING = 5
UUID_BYTES = 16


@dataclass(frozen=True)
class TimeWindow:
    """Half-open interval of epoch milliseconds in which sessions start."""

    start_ms: int
    end_ms: int


@dataclass
class EventBatch:
    """Clean documents of one export, sorted by event time, with what the generator knows."""

    documents: list[dict]
    record_ids: list[str]
    event_ms: np.ndarray
    event_type: np.ndarray
    # Delivery time of checkouts delivered after this export and within the period, else -1.
    later_delivery_ms: np.ndarray
    # Whether the document already says DELIVERED.
    is_delivered: np.ndarray
    sessions: int


def random_uuids(rng: np.random.Generator, size: int) -> list[str]:
    """Version-4 UUID strings drawn from ``rng``."""
    raw = rng.bytes(UUID_BYTES * size)
    return [
        str(uuid.UUID(bytes=raw[i : i + UUID_BYTES], version=4))
        for i in range(0, len(raw), UUID_BYTES)
    ]


def _draw_session_shapes(rng: np.random.Generator, documents: int):
    """Views, adds and checkout flag per session, enough sessions for ``documents`` events."""
    views, adds, checkouts = [], [], []
    total = 0
    # Draw roughly as many sessions as needed, then top up; the expected size guides the batch.
    mean_size = (
        1
        + np.dot(VIEWS_PER_SESSION, VIEWS_PER_SESSION_SHARES)
        + np.dot(ADDS_PER_SESSION, ADDS_PER_SESSION_SHARES)
        + (1 - ADDS_PER_SESSION_SHARES[0]) * CHECKOUT_SHARE_OF_CARTS
    )
    while total < documents:
        batch = int((documents - total) / mean_size) + 1
        v = rng.choice(VIEWS_PER_SESSION, batch, p=VIEWS_PER_SESSION_SHARES)
        a = rng.choice(ADDS_PER_SESSION, batch, p=ADDS_PER_SESSION_SHARES)
        c = ((a > 0) & (rng.random(batch) < CHECKOUT_SHARE_OF_CARTS)).astype(np.int64)
        views.append(v)
        adds.append(a)
        checkouts.append(c)
        total += int((1 + v + a + c).sum())
    v, a, c = (np.concatenate(x) for x in (views, adds, checkouts))
    sizes = 1 + v + a + c
    sessions = int(np.searchsorted(np.cumsum(sizes), documents)) + 1
    return v[:sessions], a[:sessions], c[:sessions]


def _event_types(rng: np.random.Generator, views, adds, checkouts) -> tuple[np.ndarray, np.ndarray]:
    """Event types and session index per event, session by session in time order."""
    sessions = len(views)
    counts = np.stack([np.ones(sessions, np.int64), views, adds, checkouts], axis=1).ravel()
    types = np.repeat(np.tile(np.arange(len(EVENT_TYPES)), sessions), counts)
    session_of = np.repeat(np.arange(sessions), counts.reshape(sessions, -1).sum(axis=1))
    # Order: start, then views and adds shuffled (first view kept first), then checkout.
    rank = np.where(types == SESSION_START, 0, np.where(types == CHECKOUT_COMPLETED, 2, 1))
    jitter = rng.random(len(types))
    first_in_block = np.r_[True, (types[1:] != types[:-1]) | (session_of[1:] != session_of[:-1])]
    jitter[(types == PRODUCT_VIEW) & first_in_block] = -1.0
    order = np.lexsort((jitter, rank, session_of))
    return types[order], session_of[order]


def _draw_session_starts(rng: np.random.Generator, size: int, window: TimeWindow) -> np.ndarray:
    """Session start times following the daily and weekly traffic profile (thinning)."""
    hour_weight = np.asarray(TRAFFIC_BY_UTC_HOUR)
    day_weight = np.asarray(TRAFFIC_BY_WEEKDAY)
    peak = hour_weight.max() * day_weight.max()
    accepted: list[np.ndarray] = []
    remaining = size
    while remaining > 0:
        candidates = rng.integers(
            window.start_ms, window.end_ms, START_OVERSAMPLING * remaining + 1
        )
        hour = (candidates % MS_PER_DAY) // MS_PER_HOUR
        weekday = (candidates // MS_PER_DAY + EPOCH_WEEKDAY) % len(TRAFFIC_BY_WEEKDAY)
        keep = rng.random(len(candidates)) * peak < hour_weight[hour] * day_weight[weekday]
        accepted.append(candidates[keep][:remaining])
        remaining -= len(accepted[-1])
    return np.concatenate(accepted)


def _event_times(
    rng: np.random.Generator, starts: np.ndarray, session_of: np.ndarray
) -> np.ndarray:
    gaps = rng.exponential(MEAN_EVENT_GAP_MS, len(session_of)).astype(np.int64)
    gaps = np.clip(gaps, MIN_EVENT_GAP_MS, MAX_EVENT_GAP_MS)
    is_first = np.r_[True, session_of[1:] != session_of[:-1]]
    gaps[is_first] = 0
    elapsed = np.cumsum(gaps)
    return starts[session_of] + elapsed - elapsed[np.flatnonzero(is_first)][session_of]


def _draw_cart_adds(rng, world: World, session_category, session_of, types):
    """SKU index and quantity for every event (meaningful for ADD_TO_CART only)."""
    catalog = world.catalog
    n = len(types)
    own = rng.random(n) < SHARE_OF_ADDS_FROM_SESSION_CATEGORY
    other = rng.choice(len(catalog.categories), n, p=catalog.category_shares)
    category = np.where(own, session_category[session_of], other)
    sku = catalog.category_offsets[category] + (
        rng.random(n) * catalog.category_sizes[category]
    ).astype(np.int64)
    quantity = rng.choice(QUANTITIES, n, p=QUANTITY_SHARES)
    return sku, quantity


@dataclass(frozen=True)
class _Draws:
    """Random draws of one export: per session, then per event in session order."""

    session_ids: list[str]
    customer_idx: np.ndarray
    devices: list[dict]
    types: np.ndarray
    session_of: np.ndarray
    event_ms: np.ndarray
    record_ids: list[str]
    sku: np.ndarray
    quantity: np.ndarray


def _draw(world: World, rng: np.random.Generator, documents: int, window: TimeWindow) -> _Draws:
    views, adds, checkouts = _draw_session_shapes(rng, documents)
    types, session_of = _event_types(rng, views, adds, checkouts)
    types, session_of = types[:documents], session_of[:documents]
    sessions = len(views)
    customer_idx = sample_from_cdf(rng, world.customers.activity_cdf, sessions)
    devices = draw_devices(rng, world.customers.primary_device_profile[customer_idx])
    session_ids = random_uuids(rng, sessions)
    category = rng.choice(len(world.catalog.categories), sessions, p=world.catalog.category_shares)
    event_ms = _event_times(rng, _draw_session_starts(rng, sessions, window), session_of)
    record_ids = random_uuids(rng, documents)
    sku, quantity = _draw_cart_adds(rng, world, category, session_of, types)
    return _Draws(
        session_ids, customer_idx, devices, types, session_of, event_ms, record_ids, sku, quantity
    )


def build_events(
    world: World,
    rng: np.random.Generator,
    documents: int,
    window: TimeWindow,
    export_ms: int,
    period_end_ms: int,
) -> EventBatch:
    """Generate ``documents`` events whose sessions start in ``window``.

    Args:
        world: shared geography, catalog, customers and calendar.
        rng: the random stream of this export file.
        documents: number of events (the last session may be cut short).
        window: when sessions start.
        export_ms: when the export is taken; delivery fields show the state at that time.
        period_end_ms: end of the simulated period; later deliveries never happen.
    """
    draws = _draw(world, rng, documents, window)
    docs = _assemble_documents(world, draws)
    checkout_idx = np.flatnonzero(draws.types == CHECKOUT_COMPLETED)
    delivered, later = _attach_shipping(
        world, rng, docs, draws, checkout_idx, export_ms, period_end_ms
    )
    later_delivery_ms = np.full(documents, -1, dtype=np.int64)
    later_delivery_ms[checkout_idx] = later
    is_delivered = np.zeros(documents, dtype=bool)
    is_delivered[checkout_idx] = delivered

    order = np.argsort(draws.event_ms, kind="stable")
    return EventBatch(
        documents=[docs[i] for i in order],
        record_ids=[draws.record_ids[i] for i in order],
        event_ms=draws.event_ms[order],
        event_type=draws.types[order],
        later_delivery_ms=later_delivery_ms[order],
        is_delivered=is_delivered[order],
        sessions=len(draws.session_ids),
    )


def _assemble_documents(world: World, draws: _Draws) -> list[dict]:
    """Documents without shipping; carts accumulate the session's adds."""
    customers = world.customers.customers
    catalog_items = world.catalog.items
    docs: list[dict] = []
    current_session = -1
    items: list[dict] = []
    position_of_sku: dict[int, int] = {}
    events = zip(
        draws.types.tolist(), draws.session_of.tolist(), draws.event_ms.tolist(), strict=True
    )
    for e, (t, s, ms) in enumerate(events):
        if s != current_session:
            current_session, items, position_of_sku = s, [], {}
        if t == ADD_TO_CART:
            k, q = int(draws.sku[e]), int(draws.quantity[e])
            if k in position_of_sku:
                p = position_of_sku[k]
                items[p] = {**items[p], "quantity": items[p]["quantity"] + q}
            else:
                position_of_sku[k] = len(items)
                items.append({**catalog_items[k], "quantity": q})
        docs.append(
            {
                "id": draws.record_ids[e],
                "sessionId": draws.session_ids[s],
                "createdDateTime": ms,
                "eventType": EVENT_TYPES[t],
                "customer": customers[draws.customer_idx[s]],
                "device": draws.devices[s],
                "cart": {"currency": CURRENCY, "items": list(items)},
            }
        )
    return docs


def _attach_shipping(
    world: World,
    rng: np.random.Generator,
    docs: list[dict],
    draws: _Draws,
    checkout_idx: np.ndarray,
    export_ms: int,
    period_end_ms: int,
):
    """Add ``shipping`` and ``delivery`` (as known at ``export_ms``) to checkout documents.

    Returns:
        Whether each checkout shows as delivered, and the later delivery time (or -1) of those
        delivered after the export but within the period.
    """
    n = len(checkout_idx)
    pool = world.customers
    customer = draws.customer_idx[draws.session_of[checkout_idx]]
    to_home = rng.random(n) < SHARE_SHIPPED_TO_HOME_ADDRESS
    other_zip = sample_from_cdf(rng, world.zip_sampling_cdf, n)
    zip_idx = np.where(to_home, pool.home_zip_index[customer], other_zip)
    other_lines = street_lines(rng, n)
    method = rng.choice(len(SHIPPING_METHODS), n, p=SHIPPING_METHOD_SHARES)
    carrier = rng.choice(len(CARRIERS), n, p=CARRIER_SHARES)
    warehouse = choose_warehouses(rng, world.distances_km, zip_idx)
    distance = world.distances_km[zip_idx, warehouse]
    truth = simulate_deliveries(
        rng,
        draws.event_ms[checkout_idx],
        method,
        distance,
        world.zips.is_remote[zip_idx],
        world.calendar,
    )
    happens = truth.delivered_ms < period_end_ms
    delivered = happens & (truth.delivered_ms <= export_ms)
    in_transit = ~delivered & (truth.ship_ms <= export_ms)
    zips = world.zips
    for j, e in enumerate(checkout_idx.tolist()):
        z = int(zip_idx[j])
        docs[e]["shipping"] = {
            "method": SHIPPING_METHODS[method[j]],
            "carrier": CARRIERS[carrier[j]],
            "warehouseId": world.warehouse_ids[warehouse[j]],
            "promisedDeliveryDate": truth.promised_dates[j],
            "address": {
                "line1": pool.home_line1[customer[j]] if to_home[j] else other_lines[j],
                "city": zips.cities[z],
                "state": zips.states[z],
                "zipCode": zips.zip_codes[z],
                "country": COUNTRY,
            },
        }
        if delivered[j]:
            docs[e]["delivery"] = delivered_status(int(truth.delivered_ms[j]))
        elif in_transit[j]:
            docs[e]["delivery"] = {"status": "IN_TRANSIT"}
    later = np.where(happens & ~delivered, truth.delivered_ms, -1)
    return delivered, later


def delivered_status(delivered_ms: int) -> dict:
    """The ``delivery`` object of a parcel that has arrived."""
    return {"status": "DELIVERED", "deliveredDateTime": delivered_ms}
