"""Everything every generated file shares: geography, catalog, customers and the calendar.

A world is rebuilt from its key in each worker process (cheap, deterministic) instead of being
pickled across processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays
import numpy as np

from lakehouse.generate.catalog import Catalog, build_catalog
from lakehouse.generate.customers import CustomerPool, build_customer_pool
from lakehouse.generate.delivery import shipping_calendar
from lakehouse.generate.geography import (
    WAREHOUSES,
    ZipTable,
    build_zip_table,
    warehouse_distances_km,
)

HOLIDAY_COUNTRY = "US"
# Holidays are needed up to the year after the events, where late deliveries land.
HOLIDAY_YEARS_AFTER_PERIOD = 1


@dataclass(frozen=True)
class WorldKey:
    """What a world is built from (hashable, cheap to send to worker processes)."""

    seed: int
    customer_count: int
    holiday_years: tuple[int, ...]


@dataclass(frozen=True)
class World:
    """Shared, read-only inputs of the session generator."""

    zips: ZipTable
    zip_sampling_cdf: np.ndarray
    warehouse_ids: tuple[str, ...]
    distances_km: np.ndarray
    catalog: Catalog
    customers: CustomerPool
    calendar: np.busdaycalendar


def holiday_years(start: dt.date, days: int) -> tuple[int, ...]:
    """Years whose holidays matter for events from ``start`` over ``days`` days."""
    last = start + dt.timedelta(days=max(days, 1) - 1)
    return tuple(range(start.year, last.year + HOLIDAY_YEARS_AFTER_PERIOD + 1))


def us_holidays(years) -> list[tuple[dt.date, str]]:
    """(date, name) of US public holidays in ``years``, sorted by date."""
    calendar = holidays.country_holidays(HOLIDAY_COUNTRY, years=sorted(set(years)))
    return sorted(calendar.items())


@lru_cache(maxsize=2)
def build_world(key: WorldKey) -> World:
    """Build (or reuse, within one process) the world for ``key``."""
    zips = build_zip_table(key.seed)
    cdf = np.cumsum(zips.population_share)
    return World(
        zips=zips,
        zip_sampling_cdf=cdf / cdf[-1],
        warehouse_ids=tuple(w.warehouse_id for w in WAREHOUSES),
        distances_km=warehouse_distances_km(zips),
        catalog=build_catalog(key.seed),
        customers=build_customer_pool(key.seed, key.customer_count, zips),
        calendar=shipping_calendar(day for day, _ in us_holidays(key.holiday_years)),
    )


def sample_from_cdf(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from a cumulative distribution (fast for large, fixed distributions)."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)
