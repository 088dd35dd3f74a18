"""Payment transactions of the period: everyday payments plus bursts.

Everyday payments: payers are drawn by activity and by how long they exist in the period, days
by weekday, times of day by a local-time profile (quiet at night); a payment goes to a merchant
(always at a point of sale), to one of the payer's favourite payees, or to someone new, mostly
in the payer's country. Amounts are lognormal per channel (points of sale small, web and API
large) around the payer's own scale, with rare spikes far above it.

Bursts are several payments from one account within an hour, to new payees; half of them come
from risky accounts (young, or recently flagged by the risk feed), from a device and address
never seen before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.generate.payments.accounts import (
    CURRENCY_OF_COUNTRY,
    MERCHANT,
    MERCHANT_CATEGORIES,
    UTC_OFFSET_MINUTES,
    AccountBook,
)
from lakehouse.generate.payments.contract import CHANNELS
from lakehouse.generate.payments.destinations import NO_ACCOUNT, PayeePools
from lakehouse.generate.payments.formats import (
    CENTS_PER_UNIT,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
)
from lakehouse.generate.payments.identifiers import DEVICE_ID_SPACE
from lakehouse.generate.payments.risk import RiskEvents
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng

WEB, MOBILE, POS, API = (CHANNELS.index(c) for c in ("web", "mobile", "pos", "api"))
CHANNEL_SHARES = (0.35, 0.35, 0.20, 0.10)
# Lognormal amounts per channel: median in currency units, and sigma of the log.
CHANNEL_MEDIAN_AMOUNT = np.array([80.0, 45.0, 25.0, 250.0])
CHANNEL_AMOUNT_SIGMA = np.array([0.7, 0.6, 0.5, 0.8])
MIN_AMOUNT_CENTS = 50
SPIKE_SHARE = 0.012
SPIKE_FACTOR_RANGE = (8.0, 25.0)
# Share of payments that go to a merchant, per channel (web, mobile, pos, api).
MERCHANT_PAYEE_SHARE = np.array([0.6, 0.4, 1.0, 0.3])
# Regular payees: people and businesses, and merchants, each account returns to.
FAVOURITE_PAYEES = 4
FAVOURITE_MERCHANTS = 3
FAVOURITE_SHARE = 0.65
DOMESTIC_SHARE = 0.88
SECOND_CARD_SHARE = 0.05
OTHER_DEVICE_SHARE = 0.08
OTHER_IP_SHARE = 0.12
WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 0.9, 0.8])  # Monday first
HOURLY_WEIGHTS = np.array(
    [1.2, 0.8, 0.6, 0.5, 0.6, 1.0, 2.0, 3.5, 5.0, 6.0, 6.5, 6.8,
     7.0, 6.8, 6.5, 6.3, 6.2, 6.4, 6.6, 6.2, 5.2, 4.0, 2.8, 1.8]
)  # fmt: skip
MIN_SECONDS_AFTER_OPENING = 5 * SECONDS_PER_MINUTE
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

BURST_SHARE = 0.03
BURST_SIZE_RANGE = (3, 8)  # inclusive
BURST_WINDOW_S = SECONDS_PER_HOUR
RISKY_BURST_SHARE = 0.5
# A risky burst starts within this long after the account opened or was flagged.
RISKY_WINDOW_S = 30 * SECONDS_PER_DAY
BURST_CHANNEL_SHARES = (0.4, 0.3, 0.0, 0.3)
BURST_SPIKE_SHARE = 0.35
BURST_DOMESTIC_SHARE = 0.5
NO_BURST = -1


@dataclass(frozen=True, eq=False)
class Transactions:
    """All transactions in time order; the position of a row is its transaction index."""

    ts_s: np.ndarray
    source: np.ndarray
    destination: np.ndarray
    cents: np.ndarray
    channel: np.ndarray
    card: np.ndarray
    ip: np.ndarray
    device: np.ndarray
    is_spike: np.ndarray
    burst: np.ndarray
    currency: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    # Wall-clock offset the timestamp is written in (points of sale use local time).
    offset_minutes: np.ndarray
    is_local_time: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_s)


TRANSFER_CATEGORY = "transfer"
CATEGORIES = (*MERCHANT_CATEGORIES, TRANSFER_CATEGORY)


def _payer_weights(book: AccountBook) -> np.ndarray:
    key = book.key
    exposure = key.end_s - np.maximum(book.created_s, key.start_s)
    return np.cumsum(book.activity * exposure)


def _draw_payers(rng, book: AccountBook, n: int) -> np.ndarray:
    cumulative = _payer_weights(book)
    return np.minimum(np.searchsorted(cumulative, rng.random(n) * cumulative[-1]), len(book) - 1)


def _draw_times(rng, book: AccountBook, payers: np.ndarray) -> np.ndarray:
    """Weekday-weighted day after the payer opened, local time of day from the hourly profile."""
    key, n = book.key, len(payers)
    first_day = key.start_s // SECONDS_PER_DAY
    weekdays = (first_day + np.arange(key.days) + EPOCH_WEEKDAY) % len(WEEKDAY_WEIGHTS)
    cumulative = np.concatenate([[0.0], np.cumsum(WEEKDAY_WEIGHTS[weekdays])])
    opened_day = np.clip((book.created_s[payers] - key.start_s) // SECONDS_PER_DAY, 0, None)
    low = cumulative[opened_day]
    u = low + rng.random(n) * (cumulative[-1] - low)
    day = np.clip(np.searchsorted(cumulative, u, "right") - 1, opened_day, key.days - 1)
    hourly = np.cumsum(HOURLY_WEIGHTS) / HOURLY_WEIGHTS.sum()
    hour = np.minimum(np.searchsorted(hourly, rng.random(n), "right"), len(HOURLY_WEIGHTS) - 1)
    local = day * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR + rng.integers(0, SECONDS_PER_HOUR, n)
    day_start = key.start_s + day * SECONDS_PER_DAY
    country = book.version_country[book.version_at(payers, day_start)]
    ts = key.start_s + local - UTC_OFFSET_MINUTES[country] * SECONDS_PER_MINUTE
    earliest = np.maximum(book.created_s[payers] + MIN_SECONDS_AFTER_OPENING, key.start_s)
    return np.clip(ts, earliest, key.end_s - 1)


def _amount_cents(rng, book: AccountBook, payers, channel, spike_share: float):
    n = len(payers)
    log_amount = np.log(CHANNEL_MEDIAN_AMOUNT[channel]) + book.amount_scale[payers]
    log_amount += rng.normal(0.0, 1.0, n) * CHANNEL_AMOUNT_SIGMA[channel]
    is_spike = rng.random(n) < spike_share
    log_amount += np.where(is_spike, np.log(rng.uniform(*SPIKE_FACTOR_RANGE, n)), 0.0)
    cents = np.round(np.exp(log_amount) * CENTS_PER_UNIT).astype(np.int64)
    return np.maximum(cents, MIN_AMOUNT_CENTS), is_spike


def _country_at(book: AccountBook, accounts, at_s) -> np.ndarray:
    return book.version_country[book.version_at(accounts, at_s)]


def _favourites(rng, book: AccountBook, pools: PayeePools, count: int, merchants: bool):
    """(accounts, count) regular payees of each account, among accounts open before the period."""
    payers = np.repeat(np.arange(len(book)), count)
    at = np.full(len(payers), book.key.start_s)
    country = _country_at(book, payers, at)
    wants_merchant = np.full(len(payers), merchants)
    domestic = rng.random(len(payers)) < DOMESTIC_SHARE
    return pools.draw(rng, payers, at, country, wants_merchant, domestic).reshape(len(book), count)


def _draw_everyday(rng, book: AccountBook, pools: PayeePools, n: int) -> dict:
    payers = _draw_payers(rng, book, n)
    ts = _draw_times(rng, book, payers)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARES)
    country = _country_at(book, payers, ts)
    wants_merchant = rng.random(n) < MERCHANT_PAYEE_SHARE[channel]
    payees = pools.draw(rng, payers, ts, country, wants_merchant, rng.random(n) < DOMESTIC_SHARE)
    people = _favourites(rng, book, pools, FAVOURITE_PAYEES, merchants=False)
    merchants = _favourites(rng, book, pools, FAVOURITE_MERCHANTS, merchants=True)
    favourite = np.where(
        wants_merchant,
        merchants[payers, rng.integers(0, FAVOURITE_MERCHANTS, n)],
        people[payers, rng.integers(0, FAVOURITE_PAYEES, n)],
    )
    use_favourite = rng.random(n) < FAVOURITE_SHARE
    use_favourite &= (favourite != NO_ACCOUNT) & (favourite != payers)
    payees = np.where(use_favourite, favourite, payees)
    cents, is_spike = _amount_cents(rng, book, payers, channel, SPIKE_SHARE)
    card = book.cards[payers, (rng.random(n) < SECOND_CARD_SHARE).astype(np.int64)]
    other_device = rng.integers(0, DEVICE_ID_SPACE, n)
    other_ip = book.home_ip[rng.integers(0, len(book), n)]
    return {
        "ts_s": ts,
        "source": payers,
        "destination": payees,
        "cents": cents,
        "channel": channel,
        "card": card,
        "ip": np.where(rng.random(n) < OTHER_IP_SHARE, other_ip, book.home_ip[payers]),
        "device": np.where(
            rng.random(n) < OTHER_DEVICE_SHARE, other_device, book.home_device[payers]
        ),
        "is_spike": is_spike,
        "burst": np.full(n, NO_BURST),
    }


def _risky_windows(book: AccountBook, risk: RiskEvents) -> tuple[np.ndarray, ...]:
    """(account, earliest start, latest start) of bursts soon after opening or a flag."""
    key = book.key
    new = np.flatnonzero(book.created_s >= key.start_s)
    raised = risk.raised
    accounts = np.concatenate([new, risk.account[raised]])
    since = np.concatenate([book.created_s[new], risk.effective_s[raised]])
    low = np.maximum(np.maximum(since, book.created_s[accounts]), key.start_s)
    low += MIN_SECONDS_AFTER_OPENING
    high = np.minimum(since + RISKY_WINDOW_S, key.end_s - BURST_WINDOW_S)
    keep = high > low
    return accounts[keep], low[keep], high[keep]


def _burst_sizes(rng, count: int) -> np.ndarray:
    mean_size = sum(BURST_SIZE_RANGE) / 2
    sizes = rng.integers(
        BURST_SIZE_RANGE[0], BURST_SIZE_RANGE[1] + 1, round(count * BURST_SHARE / mean_size)
    )
    return sizes[np.cumsum(sizes) <= count]


def _draw_bursts(rng, book: AccountBook, risk: RiskEvents, pools: PayeePools, count: int) -> dict:
    key = book.key
    sizes = _burst_sizes(rng, count)
    episodes = len(sizes)
    payers = _draw_payers(rng, book, episodes)
    opened = np.maximum(book.created_s[payers] + MIN_SECONDS_AFTER_OPENING, key.start_s)
    latest = np.maximum(key.end_s - BURST_WINDOW_S, opened)
    start = opened + (rng.random(episodes) * (latest - opened)).astype(np.int64)
    windows = _risky_windows(book, risk)
    is_risky = (rng.random(episodes) < RISKY_BURST_SHARE) & (len(windows[0]) > 0)
    pick = rng.integers(0, max(len(windows[0]), 1), episodes)
    if len(windows[0]):
        accounts, low, high = (w[pick] for w in windows)
        payers = np.where(is_risky, accounts, payers)
        risky_start = low + (rng.random(episodes) * (high - low)).astype(np.int64)
        start = np.where(is_risky, risky_start, start)
    episode_device = rng.integers(0, DEVICE_ID_SPACE, episodes)
    episode_ip = book.home_ip[rng.integers(0, len(book), episodes)]

    episode = np.repeat(np.arange(episodes), sizes)
    n = len(episode)
    src = payers[episode]
    ts = np.minimum(start[episode] + rng.integers(0, BURST_WINDOW_S, n), key.end_s - 1)
    channel = rng.choice(len(CHANNELS), n, p=BURST_CHANNEL_SHARES)
    country = _country_at(book, src, ts)
    domestic = rng.random(n) < BURST_DOMESTIC_SHARE
    payees = pools.draw(rng, src, ts, country, np.zeros(n, bool), domestic)
    cents, is_spike = _amount_cents(rng, book, src, channel, BURST_SPIKE_SHARE)
    risky = is_risky[episode]
    return {
        "ts_s": ts,
        "source": src,
        "destination": payees,
        "cents": cents,
        "channel": channel,
        "card": book.cards[src, 0],
        "ip": np.where(risky, episode_ip[episode], book.home_ip[src]),
        "device": np.where(risky, episode_device[episode], book.home_device[src]),
        "is_spike": is_spike,
        "burst": episode,
    }


def build_transactions(book: AccountBook, risk: RiskEvents, count: int) -> Transactions:
    """Draw ``count`` transactions (bursts included) and sort them by time."""
    pools = PayeePools(book)
    bursts = _draw_bursts(
        payment_rng(book.key.seed, PaymentStream.BURSTS), book, risk, pools, count
    )
    everyday = _draw_everyday(
        payment_rng(book.key.seed, PaymentStream.TRANSACTIONS),
        book,
        pools,
        count - len(bursts["ts_s"]),
    )
    columns = {name: np.concatenate([everyday[name], bursts[name]]) for name in everyday}
    order = np.argsort(columns["ts_s"], kind="stable")
    columns = {name: values[order] for name, values in columns.items()}
    ts, src, dst = columns["ts_s"], columns["source"], columns["destination"]
    country = _country_at(book, src, ts)
    payee_type = book.version_type[book.version_at(dst, ts)]
    is_local = columns["channel"] == POS
    return Transactions(
        **columns,
        currency=CURRENCY_OF_COUNTRY[country],
        category=np.where(
            payee_type == MERCHANT, book.merchant_category[dst], CATEGORIES.index(TRANSFER_CATEGORY)
        ),
        offset_minutes=np.where(is_local, UTC_OFFSET_MINUTES[country], 0),
        is_local_time=is_local,
    )
