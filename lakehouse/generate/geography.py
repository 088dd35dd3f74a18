"""US geography for the synthetic landing zone: zip codes, warehouses and distances.

The zip table is built from a small embedded list of anchor cities (real zip3 prefixes, state
and approximate coordinates). Each anchor contributes a handful of zip codes with jittered
coordinates, so the table looks plausible without shipping a real zip database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lakehouse.generate.seeding import Stream, stream_rng

EARTH_RADIUS_KM = 6371.0
COORDINATE_DECIMALS = 4
# Standard deviation of the coordinate jitter around an anchor city, in degrees.
CITY_JITTER_DEGREES = 0.08
REMOTE_JITTER_DEGREES = 0.35
MAX_JITTER_SIGMAS = 3.0
# Zip codes per anchor: a floor plus a share that grows with the anchor's population weight.
MIN_ZIPS_PER_ANCHOR = 12
ZIPS_PER_WEIGHT_UNIT = 8


class Anchor(NamedTuple):
    """An anchor city; its zip codes are ``zip3`` + a two-digit suffix in ``[lo, hi]``."""

    city: str
    state: str
    zip3: str
    suffix_lo: int
    suffix_hi: int
    latitude: float
    longitude: float
    is_remote: bool
    weight: float


ANCHORS: tuple[Anchor, ...] = (
    # Northeast: zip codes with a leading zero.
    Anchor("Boston", "MA", "021", 1, 37, 42.3601, -71.0589, False, 4.0),
    Anchor("Cambridge", "MA", "021", 38, 42, 42.3736, -71.1097, False, 1.0),
    Anchor("Springfield", "MA", "011", 1, 99, 42.1015, -72.5898, False, 1.0),
    Anchor("Worcester", "MA", "016", 1, 99, 42.2626, -71.8023, False, 1.0),
    Anchor("Providence", "RI", "029", 1, 99, 41.8240, -71.4128, False, 1.5),
    Anchor("Hartford", "CT", "061", 1, 99, 41.7658, -72.6734, False, 1.5),
    Anchor("New Haven", "CT", "065", 1, 99, 41.3083, -72.9279, False, 1.0),
    Anchor("Stamford", "CT", "069", 1, 99, 41.0534, -73.5387, False, 1.0),
    Anchor("Newark", "NJ", "071", 1, 99, 40.7357, -74.1724, False, 2.0),
    Anchor("Jersey City", "NJ", "073", 1, 99, 40.7178, -74.0431, False, 1.5),
    Anchor("Trenton", "NJ", "086", 1, 99, 40.2206, -74.7597, False, 1.0),
    Anchor("Manchester", "NH", "031", 1, 99, 42.9956, -71.4548, False, 1.0),
    Anchor("Portland", "ME", "041", 1, 99, 43.6591, -70.2568, False, 1.0),
    Anchor("Bangor", "ME", "044", 1, 99, 44.8016, -68.7712, True, 0.5),
    Anchor("Burlington", "VT", "054", 1, 99, 44.4759, -73.2121, False, 0.7),
    # Mid-Atlantic and South.
    Anchor("New York", "NY", "100", 1, 99, 40.7128, -74.0060, False, 5.0),
    Anchor("Brooklyn", "NY", "112", 1, 99, 40.6782, -73.9442, False, 4.0),
    Anchor("Buffalo", "NY", "142", 1, 99, 42.8864, -78.8784, False, 1.5),
    Anchor("Philadelphia", "PA", "191", 1, 99, 39.9526, -75.1652, False, 3.5),
    Anchor("Pittsburgh", "PA", "152", 1, 99, 40.4406, -79.9959, False, 2.0),
    Anchor("Washington", "DC", "200", 1, 99, 38.9072, -77.0369, False, 3.0),
    Anchor("Baltimore", "MD", "212", 1, 99, 39.2904, -76.6122, False, 2.0),
    Anchor("Richmond", "VA", "232", 1, 99, 37.5407, -77.4360, False, 1.5),
    Anchor("Raleigh", "NC", "276", 1, 99, 35.7796, -78.6382, False, 2.0),
    Anchor("Charlotte", "NC", "282", 1, 99, 35.2271, -80.8431, False, 2.5),
    Anchor("Atlanta", "GA", "303", 1, 99, 33.7490, -84.3880, False, 3.5),
    Anchor("Miami", "FL", "331", 1, 99, 25.7617, -80.1918, False, 3.5),
    Anchor("Orlando", "FL", "328", 1, 99, 28.5383, -81.3792, False, 2.5),
    Anchor("Tampa", "FL", "336", 1, 99, 27.9506, -82.4572, False, 2.5),
    Anchor("Birmingham", "AL", "352", 1, 99, 33.5186, -86.8104, False, 1.5),
    Anchor("Nashville", "TN", "372", 1, 99, 36.1627, -86.7816, False, 2.0),
    Anchor("Memphis", "TN", "381", 1, 99, 35.1495, -90.0490, False, 1.5),
    Anchor("New Orleans", "LA", "701", 1, 99, 29.9511, -90.0715, False, 1.5),
    # Midwest.
    Anchor("Columbus", "OH", "432", 1, 99, 39.9612, -82.9988, False, 2.0),
    Anchor("Cleveland", "OH", "441", 1, 99, 41.4993, -81.6944, False, 2.0),
    Anchor("Detroit", "MI", "482", 1, 99, 42.3314, -83.0458, False, 2.5),
    Anchor("Indianapolis", "IN", "462", 1, 99, 39.7684, -86.1581, False, 2.0),
    Anchor("Chicago", "IL", "606", 1, 99, 41.8781, -87.6298, False, 5.0),
    Anchor("Milwaukee", "WI", "532", 1, 99, 43.0389, -87.9065, False, 1.5),
    Anchor("Minneapolis", "MN", "554", 1, 99, 44.9778, -93.2650, False, 2.5),
    Anchor("St. Louis", "MO", "631", 1, 99, 38.6270, -90.1994, False, 2.0),
    Anchor("Kansas City", "MO", "641", 1, 99, 39.0997, -94.5786, False, 2.0),
    Anchor("Omaha", "NE", "681", 1, 99, 41.2565, -95.9345, False, 1.0),
    Anchor("Fargo", "ND", "581", 1, 99, 46.8772, -96.7898, False, 0.7),
    # South-west and Mountain.
    Anchor("Dallas", "TX", "752", 1, 99, 32.7767, -96.7970, False, 4.0),
    Anchor("Houston", "TX", "770", 1, 99, 29.7604, -95.3698, False, 4.5),
    Anchor("Austin", "TX", "787", 1, 99, 30.2672, -97.7431, False, 2.5),
    Anchor("San Antonio", "TX", "782", 1, 99, 29.4241, -98.4936, False, 2.5),
    Anchor("Oklahoma City", "OK", "731", 1, 99, 35.4676, -97.5164, False, 1.5),
    Anchor("Denver", "CO", "802", 1, 99, 39.7392, -104.9903, False, 3.0),
    Anchor("Salt Lake City", "UT", "841", 1, 99, 40.7608, -111.8910, False, 1.5),
    Anchor("Phoenix", "AZ", "850", 1, 99, 33.4484, -112.0740, False, 3.5),
    Anchor("Albuquerque", "NM", "871", 1, 99, 35.0844, -106.6504, False, 1.2),
    Anchor("Las Vegas", "NV", "891", 1, 99, 36.1699, -115.1398, False, 2.0),
    Anchor("Boise", "ID", "837", 1, 99, 43.6150, -116.2023, False, 1.0),
    Anchor("Billings", "MT", "591", 1, 99, 45.7833, -108.5007, False, 0.6),
    # Rural Montana and Wyoming.
    Anchor("Miles City", "MT", "593", 1, 99, 46.4083, -105.8406, True, 0.3),
    Anchor("Havre", "MT", "595", 1, 99, 48.5500, -109.6841, True, 0.3),
    Anchor("Kalispell", "MT", "599", 1, 99, 48.1958, -114.3129, True, 0.4),
    Anchor("Cody", "WY", "824", 1, 99, 44.5263, -109.0565, True, 0.3),
    Anchor("Casper", "WY", "826", 1, 99, 42.8666, -106.3131, True, 0.4),
    Anchor("Rock Springs", "WY", "829", 1, 99, 41.5875, -109.2029, True, 0.3),
    # West coast.
    Anchor("Los Angeles", "CA", "900", 1, 99, 34.0522, -118.2437, False, 5.0),
    Anchor("San Diego", "CA", "921", 1, 99, 32.7157, -117.1611, False, 3.0),
    Anchor("San Francisco", "CA", "941", 1, 99, 37.7749, -122.4194, False, 3.0),
    Anchor("Sacramento", "CA", "958", 1, 99, 38.5816, -121.4944, False, 2.0),
    Anchor("Portland", "OR", "972", 1, 99, 45.5152, -122.6784, False, 2.5),
    Anchor("Seattle", "WA", "981", 1, 99, 47.6062, -122.3321, False, 3.5),
    Anchor("Spokane", "WA", "992", 1, 99, 47.6588, -117.4260, False, 1.0),
    # Alaska and Hawaii.
    Anchor("Anchorage", "AK", "995", 1, 99, 61.2181, -149.9003, True, 0.8),
    Anchor("Fairbanks", "AK", "997", 1, 99, 64.8378, -147.7164, True, 0.4),
    Anchor("Juneau", "AK", "998", 1, 99, 58.3019, -134.4197, True, 0.3),
    Anchor("Ketchikan", "AK", "999", 1, 99, 55.3422, -131.6461, True, 0.2),
    Anchor("Hilo", "HI", "967", 1, 99, 19.7074, -155.0885, True, 0.5),
    Anchor("Honolulu", "HI", "968", 1, 99, 21.3069, -157.8583, True, 1.2),
)


class Warehouse(NamedTuple):
    """A fulfilment centre at a real logistics hub."""

    warehouse_id: str
    zip_code: str
    latitude: float
    longitude: float


WAREHOUSES: tuple[Warehouse, ...] = (
    Warehouse("WH-01", "07114", 40.7070, -74.1740),  # Newark, NJ
    Warehouse("WH-02", "30354", 33.6590, -84.3910),  # Atlanta, GA
    Warehouse("WH-03", "60638", 41.7860, -87.7520),  # Chicago, IL
    Warehouse("WH-04", "75261", 32.8970, -97.0380),  # Dallas, TX
    Warehouse("WH-05", "80239", 39.7880, -104.8290),  # Denver, CO
    Warehouse("WH-06", "90058", 33.9990, -118.2190),  # Los Angeles, CA
    Warehouse("WH-07", "98108", 47.5430, -122.3110),  # Seattle, WA
    Warehouse("WH-08", "38118", 35.0410, -89.9290),  # Memphis, TN
    Warehouse("WH-09", "43217", 39.8150, -82.9330),  # Columbus, OH
)


@dataclass(frozen=True)
class ZipTable:
    """Zip codes sorted by code, as parallel arrays."""

    zip_codes: tuple[str, ...]
    cities: tuple[str, ...]
    states: tuple[str, ...]
    latitudes: np.ndarray
    longitudes: np.ndarray
    is_remote: np.ndarray
    # Probability of a customer living in each zip (the anchor's weight shared by its zips).
    population_share: np.ndarray

    def __len__(self) -> int:
        return len(self.zip_codes)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in kilometres; arguments broadcast like numpy arrays."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlambda = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _zip_count(anchor: Anchor) -> int:
    available = anchor.suffix_hi - anchor.suffix_lo + 1
    return min(available, MIN_ZIPS_PER_ANCHOR + round(ZIPS_PER_WEIGHT_UNIT * anchor.weight))


def _jitter(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    noise = rng.normal(0.0, sigma, size)
    return np.clip(noise, -MAX_JITTER_SIGMAS * sigma, MAX_JITTER_SIGMAS * sigma)


def build_zip_table(seed: int) -> ZipTable:
    """Build the reference zip table; the same seed always gives the same table.

    Warehouse zip codes are always included, at the warehouse's own coordinates.
    """
    rng = stream_rng(seed, Stream.ZIP_CODES)
    warehouse_by_zip = {w.zip_code: w for w in WAREHOUSES}
    rows: dict[str, tuple[str, str, float, float, bool, float]] = {}
    for anchor in ANCHORS:
        suffixes = np.arange(anchor.suffix_lo, anchor.suffix_hi + 1)
        chosen = {
            f"{anchor.zip3}{s:02d}" for s in rng.choice(suffixes, _zip_count(anchor), replace=False)
        }
        chosen |= {z for z in warehouse_by_zip if z[:3] == anchor.zip3 and _suffix_in(anchor, z)}
        codes = sorted(chosen)
        sigma = REMOTE_JITTER_DEGREES if anchor.is_remote else CITY_JITTER_DEGREES
        lats = anchor.latitude + _jitter(rng, len(codes), sigma)
        lons = anchor.longitude + _jitter(rng, len(codes), sigma)
        share = anchor.weight / len(codes)
        for code, lat, lon in zip(codes, lats, lons, strict=True):
            if code in rows:
                raise ValueError(f"zip code {code} belongs to two anchor cities")
            if code in warehouse_by_zip:
                lat, lon = warehouse_by_zip[code].latitude, warehouse_by_zip[code].longitude
            rows[code] = (anchor.city, anchor.state, lat, lon, anchor.is_remote, share)
    codes = sorted(rows)
    columns = list(zip(*(rows[c] for c in codes), strict=True))
    share = np.asarray(columns[5], dtype=np.float64)
    return ZipTable(
        zip_codes=tuple(codes),
        cities=tuple(columns[0]),
        states=tuple(columns[1]),
        latitudes=np.round(np.asarray(columns[2], dtype=np.float64), COORDINATE_DECIMALS),
        longitudes=np.round(np.asarray(columns[3], dtype=np.float64), COORDINATE_DECIMALS),
        is_remote=np.asarray(columns[4], dtype=bool),
        population_share=share / share.sum(),
    )


def _suffix_in(anchor: Anchor, zip_code: str) -> bool:
    return anchor.suffix_lo <= int(zip_code[3:]) <= anchor.suffix_hi


def warehouse_distances_km(zips: ZipTable) -> np.ndarray:
    """Distance matrix of shape (zip codes, warehouses) in kilometres."""
    wh_lat = np.array([w.latitude for w in WAREHOUSES])
    wh_lon = np.array([w.longitude for w in WAREHOUSES])
    return haversine_km(zips.latitudes[:, None], zips.longitudes[:, None], wh_lat, wh_lon)
