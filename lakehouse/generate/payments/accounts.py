"""The account book: every account, and every version of its attributes over the period.

Most accounts exist before the period (they were created up to ``ACCOUNT_HISTORY_DAYS``
earlier and last changed before it starts); the others open during the period, with KYC
pending. While the period runs, attributes change: KYC reviews move pending accounts to
verified or failed, holders move country, personal and business accounts switch type. Each
change makes a new version of the account, stamped with the time of the change; a daily
snapshot lists, for every account open by the end of the day, the version then in effect.

The book depends only on its key, so worker processes rebuild it instead of receiving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from lakehouse.generate.customers import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES
from lakehouse.generate.payments.contract import KYC_STATUSES
from lakehouse.generate.payments.formats import SECONDS_PER_DAY, SECONDS_PER_HOUR
from lakehouse.generate.payments.identifiers import DEVICE_ID_SPACE, draw_card_numbers
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng

ACCOUNT_TYPES = ("personal", "business", "merchant")
PERSONAL, BUSINESS, MERCHANT = range(len(ACCOUNT_TYPES))
ACCOUNT_TYPE_SHARES = (0.72, 0.18, 0.10)
COUNTRIES = ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL")
COUNTRY_SHARES = (0.62, 0.04, 0.09, 0.02, 0.07, 0.06, 0.04, 0.03, 0.03)
CURRENCIES = ("USD", "EUR", "GBP")
CURRENCY_OF_COUNTRY = np.array([0, 0, 2, 1, 1, 1, 1, 1, 1])
# Local wall-clock offset of each country in minutes (standard time, good enough for months).
UTC_OFFSET_MINUTES = np.array([-300, -300, 0, 0, 60, 60, 60, 60, 60])
MERCHANT_CATEGORIES = (
    "grocery", "restaurants", "electronics", "travel", "fuel", "pharmacy", "apparel",
    "entertainment", "utilities", "gaming",
)  # fmt: skip
BUSINESS_SUFFIXES = ("Trading", "Logistics", "Consulting", "Foods", "Studio", "Supplies", "Labs")
VERIFIED, PENDING, FAILED = (KYC_STATUSES.index(s) for s in ("verified", "pending", "failed"))
PRE_PERIOD_KYC_SHARES = (0.93, 0.04, 0.03)  # in KYC_STATUSES order
EMAIL_NUMBER_RANGE = (1, 1_000)

ACCOUNT_HISTORY_DAYS = 5 * 365
NEW_ACCOUNT_SHARE = 0.15
# A new account opens at least this long before the period ends, so it can still transact.
MIN_NEW_ACCOUNT_LIFETIME_S = 2 * SECONDS_PER_DAY
KYC_REVIEW_DELAY_S = (1 * SECONDS_PER_HOUR, 14 * SECONDS_PER_DAY)
NEW_ACCOUNT_VERIFIED_SHARE = 0.85
PENDING_REVIEWED_SHARE = 0.7
COUNTRY_MOVE_SHARE = 0.03
TYPE_CHANGE_SHARE = 0.02

# Skew of who pays (activity), who gets paid (popularity), and of each payer's usual amounts.
ACTIVITY_SIGMA = 1.0
POPULARITY_SIGMA = 1.0
MERCHANT_POPULARITY_FACTOR = 4.0
AMOUNT_SCALE_SIGMA = 0.5
# First octets of public IPv4 blocks; host octets avoid 0 and 255.
PUBLIC_IP_FIRST_OCTETS = np.array([24, 31, 46, 62, 73, 77, 81, 86, 92, 98, 109, 151, 176, 185])
CARDS_PER_ACCOUNT = 2
# Versions are searched by one sorted int64 key: account index, then seconds since the base.
VERSION_KEY_SPAN = 2**34
NO_CHANGE = np.iinfo(np.int64).max


@dataclass(frozen=True)
class BookKey:
    """What an account book is built from (hashable, cheap to send to worker processes)."""

    seed: int
    accounts: int
    start_s: int
    days: int

    @property
    def end_s(self) -> int:
        """End of the period (exclusive), epoch seconds."""
        return self.start_s + self.days * SECONDS_PER_DAY


@dataclass(frozen=True, eq=False)
class AccountBook:
    """Accounts (arrays indexed by account) and their versions (sorted by account, then time)."""

    key: BookKey
    created_s: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    business_suffix: np.ndarray
    email_number: np.ndarray
    email_domain: np.ndarray
    is_business_name: np.ndarray
    merchant_category: np.ndarray
    activity: np.ndarray
    popularity: np.ndarray
    amount_scale: np.ndarray
    home_device: np.ndarray
    home_ip: np.ndarray
    cards: np.ndarray  # (accounts, CARDS_PER_ACCOUNT)
    version_account: np.ndarray
    version_from_s: np.ndarray
    version_type: np.ndarray
    version_country: np.ndarray
    version_kyc: np.ndarray

    def __len__(self) -> int:
        return len(self.created_s)

    @cached_property
    def _version_keys(self) -> np.ndarray:
        return self.version_account * VERSION_KEY_SPAN + (self.version_from_s - self._key_base)

    @cached_property
    def _key_base(self) -> int:
        return int(self.version_from_s.min())

    @cached_property
    def version_to_s(self) -> np.ndarray:
        """Time the next version of the same account takes over (NO_CHANGE for the last)."""
        to = np.full(len(self.version_account), NO_CHANGE, dtype=np.int64)
        same = self.version_account[1:] == self.version_account[:-1]
        to[:-1][same] = self.version_from_s[1:][same]
        return to

    @cached_property
    def opened_s(self) -> np.ndarray:
        """When each account first appears: its creation, or its first version if earlier."""
        first = np.ones(len(self.version_account), dtype=bool)
        first[1:] = self.version_account[1:] != self.version_account[:-1]
        return self.version_from_s[first]

    @cached_property
    def _first_version(self) -> np.ndarray:
        return np.searchsorted(self.version_account, np.arange(len(self) + 1), "left")

    def version_at(self, accounts: np.ndarray, at_s: np.ndarray) -> np.ndarray:
        """Index of the version of each account in effect at each time (its first if earlier)."""
        accounts = np.asarray(accounts, dtype=np.int64)
        at_s = np.broadcast_to(np.asarray(at_s, dtype=np.int64), accounts.shape)
        first = self._first_version[accounts]
        # Most accounts never change: only those with several versions need a search.
        changing = np.flatnonzero(self._first_version[accounts + 1] - first > 1)
        offset = np.maximum(at_s[changing] - self._key_base, 0)
        wanted = accounts[changing] * VERSION_KEY_SPAN + offset
        found = np.searchsorted(self._version_keys, wanted, "right") - 1
        result = first.copy()
        result[changing] = np.maximum(found, first[changing])
        return result

    def snapshot_versions(self, as_of_s: int) -> np.ndarray:
        """Versions listed by a snapshot taken at ``as_of_s`` (exclusive), in account order."""
        return np.flatnonzero((self.version_from_s < as_of_s) & (as_of_s <= self.version_to_s))


def _other_value(rng: np.random.Generator, current: np.ndarray, choices: int) -> np.ndarray:
    return (current + rng.integers(1, choices, len(current))) % choices


def _creation_times(rng: np.random.Generator, key: BookKey) -> tuple[np.ndarray, np.ndarray]:
    n = key.accounts
    is_new = rng.random(n) < NEW_ACCOUNT_SHARE
    history_start = key.start_s - ACCOUNT_HISTORY_DAYS * SECONDS_PER_DAY
    old = rng.integers(history_start, key.start_s - SECONDS_PER_DAY, n)
    new_until = max(key.start_s + 1, key.end_s - MIN_NEW_ACCOUNT_LIFETIME_S)
    new = rng.integers(key.start_s, new_until, n)
    return np.where(is_new, new, old), is_new


def _change_events(rng, key: BookKey, created, is_new, kyc0, type0, country0) -> dict:
    """Time (NO_CHANGE if none in the period) and new value of each field's one change."""
    n = key.accounts
    lived_from = np.maximum(created, key.start_s)
    review_at = np.where(
        is_new,
        created + rng.integers(*KYC_REVIEW_DELAY_S, n),
        rng.integers(key.start_s, key.end_s, n),
    )
    is_reviewed = (kyc0 == PENDING) & (is_new | (rng.random(n) < PENDING_REVIEWED_SHARE))
    verdict = np.where(rng.random(n) < NEW_ACCOUNT_VERIFIED_SHARE, VERIFIED, FAILED)
    move_at = lived_from + 1 + (rng.random(n) * (key.end_s - lived_from - 1)).astype(np.int64)
    is_moving = rng.random(n) < COUNTRY_MOVE_SHARE
    switch_at = lived_from + 1 + (rng.random(n) * (key.end_s - lived_from - 1)).astype(np.int64)
    is_switching = (type0 != MERCHANT) & (rng.random(n) < TYPE_CHANGE_SHARE)
    events = {
        "kyc": (np.where(is_reviewed, review_at, NO_CHANGE), verdict),
        "country": (
            np.where(is_moving, move_at, NO_CHANGE),
            _other_value(rng, country0, len(COUNTRIES)),
        ),
        "type": (np.where(is_switching, switch_at, NO_CHANGE), BUSINESS - type0),
    }
    return {
        field: (np.where(at < key.end_s, at, NO_CHANGE), value)
        for field, (at, value) in events.items()
    }


@lru_cache(maxsize=2)
def build_account_book(key: BookKey) -> AccountBook:
    """Build the accounts and their versions; the same key always gives the same book."""
    n = key.accounts
    rng = payment_rng(key.seed, PaymentStream.ACCOUNTS)
    created, is_new = _creation_times(rng, key)
    type0 = rng.choice(len(ACCOUNT_TYPES), n, p=ACCOUNT_TYPE_SHARES)
    country0 = rng.choice(len(COUNTRIES), n, p=COUNTRY_SHARES)
    kyc0 = np.where(is_new, PENDING, rng.choice(len(KYC_STATUSES), n, p=PRE_PERIOD_KYC_SHARES))
    # Pre-existing accounts last changed at some point between their creation and the period.
    since_created = np.maximum(key.start_s - created, 1)
    updated0 = np.where(is_new, created, created + rng.integers(0, since_created))
    popularity = rng.lognormal(0.0, POPULARITY_SIGMA, n)
    popularity *= np.where(type0 == MERCHANT, MERCHANT_POPULARITY_FACTOR, 1.0)
    ips = rng.choice(PUBLIC_IP_FIRST_OCTETS, n).astype(np.int64) << 24
    ips |= rng.integers(0, 2**16, n) << 8
    ips |= rng.integers(1, 255, n)
    book = {
        "created_s": created,
        "first_name": rng.integers(0, len(FIRST_NAMES), n),
        "last_name": rng.integers(0, len(LAST_NAMES), n),
        "business_suffix": rng.integers(0, len(BUSINESS_SUFFIXES), n),
        "email_number": rng.integers(*EMAIL_NUMBER_RANGE, n),
        "email_domain": rng.integers(0, len(EMAIL_DOMAINS), n),
        "is_business_name": type0 != PERSONAL,
        "merchant_category": rng.integers(0, len(MERCHANT_CATEGORIES), n),
        "activity": rng.lognormal(0.0, ACTIVITY_SIGMA, n),
        "popularity": popularity,
        "amount_scale": rng.normal(0.0, AMOUNT_SCALE_SIGMA, n),
        "home_device": rng.integers(0, DEVICE_ID_SPACE, n),
        "home_ip": ips,
        "cards": draw_card_numbers(rng, n * CARDS_PER_ACCOUNT).reshape(n, CARDS_PER_ACCOUNT),
    }
    changes = _change_events(
        payment_rng(key.seed, PaymentStream.ACCOUNT_CHANGES), key, created, is_new, kyc0, type0,
        country0,
    )  # fmt: skip
    accounts = np.arange(n)
    change_times = [at for at, _ in changes.values()]
    v_account = np.concatenate([accounts] * (1 + len(change_times)))
    v_from = np.concatenate([updated0, *change_times])
    keep = v_from != NO_CHANGE
    # Changes that happen in the same second make one version.
    pairs = np.unique(np.stack([v_account[keep], v_from[keep]], axis=1), axis=0)
    v_account, v_from = pairs[:, 0], pairs[:, 1]

    def state(field: str, initial: np.ndarray) -> np.ndarray:
        at, value = changes[field]
        return np.where(at[v_account] <= v_from, value[v_account], initial[v_account])

    return AccountBook(
        key=key,
        **book,
        version_account=v_account,
        version_from_s=v_from,
        version_type=state("type", type0),
        version_country=state("country", country0),
        version_kyc=state("kyc", kyc0),
    )
