"""A seeded pool of recurring customers and the devices they shop from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.generate.geography import ZipTable
from lakehouse.generate.seeding import Stream, stream_rng

CUSTOMER_ID_OFFSET = 100_000
CUSTOMER_ID_DIGITS = 6
MAX_CUSTOMERS = 10**CUSTOMER_ID_DIGITS - CUSTOMER_ID_OFFSET
# Skewed activity: the top 1% of customers start about 10% of sessions (lognormal sigma).
ACTIVITY_LOGNORMAL_SIGMA = 1.0
SHARE_OF_SESSIONS_ON_PRIMARY_DEVICE = 0.8

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley",
    "Wei", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Maria", "Brian", "Aisha",
    "Priya", "Jane", "Hiroshi", "Fatima", "Luis", "Olivia", "Noah", "Sofia", "Ethan", "Grace",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Patel", "Kim", "Doe", "Chen", "Okafor",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
STREET_NAMES = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
    "Lincoln", "Jackson", "Church", "River", "Highland", "Forest", "Madison", "Spring", "Ridge",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way")
MAX_HOUSE_NUMBER = 9_999
# North American area codes are three digits starting at 201; subscriber lines have four digits.
AREA_CODE_RANGE = (201, 990)
PHONE_LINE_LIMIT = 10_000
LOYALTY_TIERS = ("BRONZE", "SILVER", "GOLD", "PLATINUM")
LOYALTY_TIER_SHARES = (0.45, 0.30, 0.18, 0.07)

# (device type, operating system, share of sessions)
DEVICE_PROFILES = (
    ("MOBILE", "iOS", 0.30),
    ("MOBILE", "Android", 0.25),
    ("DESKTOP", "Windows", 0.21),
    ("DESKTOP", "macOS", 0.12),
    ("DESKTOP", "Linux", 0.02),
    ("TABLET", "iPadOS", 0.06),
    ("TABLET", "Android", 0.04),
)
APP_VERSIONS = ("5.0.3", "5.1.0", "5.1.2", "5.2.0", "5.2.1", "5.3.0")
APP_VERSION_SHARES = (0.05, 0.10, 0.15, 0.25, 0.30, 0.15)
# First octets of public IPv4 blocks held by US consumer ISPs.
PUBLIC_IP_FIRST_OCTETS = (24, 47, 50, 64, 66, 67, 68, 69, 71, 73, 75, 76, 96, 98, 99, 107, 108)


@dataclass(frozen=True)
class CustomerPool:
    """Customers as prebuilt ``customer`` objects plus their home address and habits."""

    customers: tuple[dict, ...]
    home_zip_index: np.ndarray
    home_line1: tuple[str, ...]
    primary_device_profile: np.ndarray
    # Cumulative activity distribution, for sampling who starts a session.
    activity_cdf: np.ndarray

    def __len__(self) -> int:
        return len(self.customers)


def customer_count_for(documents: int, documents_per_customer: int, minimum: int) -> int:
    """Size of the customer pool for a number of documents."""
    return min(MAX_CUSTOMERS, max(minimum, documents // documents_per_customer))


def street_lines(rng: np.random.Generator, size: int) -> list[str]:
    """Random but plausible street address lines (``12 Main St``)."""
    numbers = rng.integers(1, MAX_HOUSE_NUMBER + 1, size)
    streets = rng.integers(0, len(STREET_NAMES), size)
    suffixes = rng.integers(0, len(STREET_SUFFIXES), size)
    return [
        f"{n} {STREET_NAMES[s]} {STREET_SUFFIXES[x]}"
        for n, s, x in zip(numbers, streets, suffixes, strict=True)
    ]


def _phone(area: int, line: int) -> str:
    # 555-01xx style numbers are reserved for fiction; keep the exchange at 555.
    return f"+1-{area}-555-{line:04d}"


def build_customer_pool(seed: int, size: int, zips: ZipTable) -> CustomerPool:
    """Build ``size`` customers; the same seed and size always give the same pool."""
    if not 1 <= size <= MAX_CUSTOMERS:
        raise ValueError(f"customer pool size must be in [1, {MAX_CUSTOMERS}], got {size}")
    rng = stream_rng(seed, Stream.CUSTOMERS)
    first = rng.integers(0, len(FIRST_NAMES), size)
    last = rng.integers(0, len(LAST_NAMES), size)
    domains = rng.integers(0, len(EMAIL_DOMAINS), size)
    tiers = rng.choice(len(LOYALTY_TIERS), size, p=LOYALTY_TIER_SHARES)
    areas = rng.integers(*AREA_CODE_RANGE, size)
    lines = rng.integers(0, PHONE_LINE_LIMIT, size)
    customers = tuple(
        {
            "customerId": f"C-{CUSTOMER_ID_OFFSET + i:0{CUSTOMER_ID_DIGITS}d}",
            "email": f"{FIRST_NAMES[f].lower()}.{LAST_NAMES[n].lower()}{i}@{EMAIL_DOMAINS[d]}",
            "firstName": FIRST_NAMES[f],
            "lastName": LAST_NAMES[n],
            "phone": _phone(int(a), int(ln)),
            "loyaltyTier": LOYALTY_TIERS[t],
        }
        for i, (f, n, d, t, a, ln) in enumerate(
            zip(first, last, domains, tiers, areas, lines, strict=True)
        )
    )
    home_zip = rng.choice(len(zips), size, p=zips.population_share)
    device_shares = np.array([p[2] for p in DEVICE_PROFILES])
    primary_device = rng.choice(len(DEVICE_PROFILES), size, p=device_shares / device_shares.sum())
    activity = rng.lognormal(0.0, ACTIVITY_LOGNORMAL_SIGMA, size)
    cdf = np.cumsum(activity)
    return CustomerPool(
        customers=customers,
        home_zip_index=home_zip,
        home_line1=tuple(street_lines(rng, size)),
        primary_device_profile=primary_device,
        activity_cdf=cdf / cdf[-1],
    )


def draw_devices(rng: np.random.Generator, primary_profile: np.ndarray) -> list[dict]:
    """One ``device`` object per session, mostly the customer's primary device."""
    size = len(primary_profile)
    shares = np.array([p[2] for p in DEVICE_PROFILES])
    other = rng.choice(len(DEVICE_PROFILES), size, p=shares / shares.sum())
    profile = np.where(
        rng.random(size) < SHARE_OF_SESSIONS_ON_PRIMARY_DEVICE, primary_profile, other
    )
    versions = rng.choice(len(APP_VERSIONS), size, p=APP_VERSION_SHARES)
    # Middle octets take any value; the host octet avoids network (0) and broadcast (255).
    octets = rng.integers(0, 256, (size, 2))
    hosts = rng.integers(1, 255, size)
    firsts = rng.integers(0, len(PUBLIC_IP_FIRST_OCTETS), size)
    return [
        {
            "type": DEVICE_PROFILES[p][0],
            "os": DEVICE_PROFILES[p][1],
            "appVersion": APP_VERSIONS[v],
            "ipAddress": f"{PUBLIC_IP_FIRST_OCTETS[f]}.{o[0]}.{o[1]}.{h}",
        }
        for p, v, f, o, h in zip(profile, versions, firsts, octets.tolist(), hosts, strict=True)
    ]
