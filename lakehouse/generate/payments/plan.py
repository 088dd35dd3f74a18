"""The delivery timeline: which files each feed delivers, when, under which name and layout.

Daily feeds (transactions, account snapshots) deliver one file per day; the risk feed delivers
on random days; fraud cases come weekly. A file is delivered a little after the end of its day
(``DELIVERY_LAG_MS`` per feed), which is its modification time. At the anomaly rate, an extra
file holding only the header follows a delivery. Within a feed, modification times strictly
increase.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from lakehouse.generate.payments.anomalies import FileLayout, draw_layout
from lakehouse.generate.payments.contract import (
    ACCOUNTS,
    FEED_SPECS,
    FEEDS,
    FRAUD_CASES,
    RISK,
    TRANSACTIONS,
)
from lakehouse.generate.payments.formats import MS_PER_SECOND, SECONDS_PER_DAY
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng

MS_PER_MINUTE = 60 * MS_PER_SECOND
DELIVERY_LAG_MS = {
    TRANSACTIONS: 5 * MS_PER_MINUTE,
    ACCOUNTS: 10 * MS_PER_MINUTE,
    RISK: 15 * MS_PER_MINUTE,
    FRAUD_CASES: 20 * MS_PER_MINUTE,
}
# A header-only file arrives this long after the delivery it follows (well within the day).
HEADER_ONLY_DELAY_MS = 30 * MS_PER_MINUTE
HEADER_ONLY_SUFFIX = "-supplement"
FILE_NAME = "{prefix}-{day:%Y-%m-%d}{suffix}.csv"
RISK_FILE_DAY_SHARE = 0.3
DAYS_PER_WEEK = 7
# Stream index, within PaymentStream.FILE_PLAN, of the risk feed's delivery days.
RISK_DAYS_STREAM_INDEX = len(FEEDS)


@dataclass(frozen=True)
class PlannedFile:
    """One file of a payment feed."""

    feed: str
    index: int  # position within the feed, in delivery order
    day: int  # day of the period the file closes
    path: str  # relative to the landing root
    mtime_ms: int
    layout: FileLayout
    is_header_only: bool


def day_end_s(start_s: int, day: int | np.ndarray):
    """End of a day of the period (exclusive), epoch seconds."""
    return start_s + (np.asarray(day) + 1) * SECONDS_PER_DAY


def plan_feed_files(
    seed: int, anomaly_rate: float, feed: str, start: dt.date, start_s: int, days: list[int]
) -> list[PlannedFile]:
    """Files of one feed: one delivery per listed day, each maybe followed by a header-only one."""
    spec = FEED_SPECS[feed]
    rng = payment_rng(seed, PaymentStream.FILE_PLAN, FEEDS.index(feed))
    files: list[PlannedFile] = []
    for day in days:
        date = start + dt.timedelta(days=day)
        delivered_ms = int(day_end_s(start_s, day)) * MS_PER_SECOND + DELIVERY_LAG_MS[feed]
        layout = draw_layout(rng, spec, anomaly_rate)
        has_header_only = bool(rng.random() < anomaly_rate)
        header_only_layout = draw_layout(rng, spec, anomaly_rate)
        name = FILE_NAME.format(prefix=spec.file_prefix, day=date, suffix="")
        path = f"{spec.folder()}/{name}"
        files.append(PlannedFile(feed, len(files), day, path, delivered_ms, layout, False))
        if has_header_only:
            name = FILE_NAME.format(prefix=spec.file_prefix, day=date, suffix=HEADER_ONLY_SUFFIX)
            files.append(
                PlannedFile(
                    feed,
                    len(files),
                    day,
                    f"{spec.folder()}/{name}",
                    delivered_ms + HEADER_ONLY_DELAY_MS,
                    header_only_layout,
                    True,
                )
            )
    return files


def risk_delivery_days(seed: int, days: int) -> np.ndarray:
    """Days on which the risk provider may deliver (its last day included)."""
    rng = payment_rng(seed, PaymentStream.FILE_PLAN, RISK_DAYS_STREAM_INDEX)
    is_delivery = rng.random(days) < RISK_FILE_DAY_SHARE
    is_delivery[-1] = True
    return np.flatnonzero(is_delivery)


def weekly_days(days: int) -> np.ndarray:
    """Last day of every full week of the period."""
    return np.arange(DAYS_PER_WEEK - 1, days, DAYS_PER_WEEK)


def delivery_slot(event_s: np.ndarray, start_s: int, delivery_days: np.ndarray) -> np.ndarray:
    """Index of the first delivery whose day ends after each event (len(days): not delivered)."""
    return np.searchsorted(day_end_s(start_s, delivery_days), event_s, "right")
