"""External risk feed: flags raised on accounts, and later cleared, by an outside provider.

A share of all accounts is flagged once at a random time (some before the period: the backlog
the first delivery carries), new accounts are flagged more often and soon after opening
(synthetic identities), and part of the flags are cleared weeks later. Accounts never flagged
get an occasional periodic review (flag 0), which is noise. A row takes effect at its
``effective_ts`` and holds until the next row for the same account.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lakehouse.generate.payments.accounts import AccountBook
from lakehouse.generate.payments.formats import SECONDS_PER_DAY
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng

RAISE_REASONS = (
    "chargeback_history", "device_reputation", "sanctions_screening_hit", "mule_network_link",
    "identity_mismatch",
)  # fmt: skip
CLEAR_REASONS = ("review_cleared", "customer_verified")
REVIEW_REASON = "periodic_review"
REASONS = (*RAISE_REASONS, *CLEAR_REASONS, REVIEW_REASON)

FLAGGED_SHARE = 0.025
NEW_ACCOUNT_FLAGGED_SHARE = 0.12
NEW_ACCOUNT_FLAG_DELAY_S = (1 * SECONDS_PER_DAY, 20 * SECONDS_PER_DAY)
# Flags raised up to this long before the period are still in effect when it starts.
BACKLOG_S = 60 * SECONDS_PER_DAY
CLEARED_SHARE = 0.45
CLEAR_DELAY_S = (3 * SECONDS_PER_DAY, 40 * SECONDS_PER_DAY)
REVIEWED_SHARE = 0.04
# Scores in thousandths.
RAISED_SCORE_RANGE = (600, 990)
CLEARED_SCORE_RANGE = (20, 300)
REVIEW_SCORE_RANGE = (10, 400)
RISK_KEY_SPAN = 2**36


@dataclass(frozen=True, eq=False)
class RiskEvents:
    """Risk-feed rows, sorted by effective time (then account)."""

    account: np.ndarray
    effective_s: np.ndarray
    flag: np.ndarray
    score_milli: np.ndarray
    reason: np.ndarray
    base_s: int

    def __len__(self) -> int:
        return len(self.account)

    @cached_property
    def _by_account(self) -> tuple[np.ndarray, np.ndarray]:
        keys = self.account * RISK_KEY_SPAN + (self.effective_s - self.base_s)
        order = np.argsort(keys, kind="stable")
        return keys[order], self.flag[order]

    def flag_at(self, accounts: np.ndarray, at_s: np.ndarray) -> np.ndarray:
        """Risk flag of each account in effect at each time (0 while the feed says nothing)."""
        keys, flags = self._by_account
        accounts = np.asarray(accounts, dtype=np.int64)
        wanted = accounts * RISK_KEY_SPAN + np.maximum(np.asarray(at_s) - self.base_s, -1)
        found = np.searchsorted(keys, wanted, "right") - 1
        hit = (found >= 0) & (keys[np.maximum(found, 0)] // RISK_KEY_SPAN == accounts)
        return np.where(hit, flags[np.maximum(found, 0)], 0)

    @property
    def raised(self) -> np.ndarray:
        """Indices of the rows that raise a flag."""
        return np.flatnonzero(self.flag == 1)


def build_risk_events(book: AccountBook) -> RiskEvents:
    """Draw the risk rows of the period (and of the backlog before it)."""
    key = book.key
    rng = payment_rng(key.seed, PaymentStream.RISK_EVENTS)
    n = len(book)
    created = book.created_s
    is_new = created >= key.start_s
    earliest = np.maximum(created, key.start_s - BACKLOG_S)
    any_time = earliest + (rng.random(n) * (key.end_s - earliest)).astype(np.int64)
    soon_after_opening = created + rng.integers(*NEW_ACCOUNT_FLAG_DELAY_S, n)
    flagged_share = np.where(is_new, NEW_ACCOUNT_FLAGGED_SHARE, FLAGGED_SHARE)
    is_flagged = rng.random(n) < flagged_share
    raised_at = np.where(is_new, soon_after_opening, any_time)
    is_flagged &= raised_at < key.end_s
    cleared_at = raised_at + rng.integers(*CLEAR_DELAY_S, n)
    is_cleared = is_flagged & (rng.random(n) < CLEARED_SHARE) & (cleared_at < key.end_s)
    reviewed_at = np.maximum(created, key.start_s) + (
        rng.random(n) * (key.end_s - np.maximum(created, key.start_s))
    ).astype(np.int64)
    is_reviewed = ~is_flagged & (rng.random(n) < REVIEWED_SHARE)

    parts = [
        (is_flagged, raised_at, 1, RAISED_SCORE_RANGE, 0, len(RAISE_REASONS)),
        (is_cleared, cleared_at, 0, CLEARED_SCORE_RANGE, len(RAISE_REASONS), len(CLEAR_REASONS)),
        (is_reviewed, reviewed_at, 0, REVIEW_SCORE_RANGE, REASONS.index(REVIEW_REASON), 1),
    ]
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("a", "t", "f", "s", "r")}
    for mask, at, flag, score_range, first_reason, reasons in parts:
        accounts = np.flatnonzero(mask)
        columns["a"].append(accounts)
        columns["t"].append(at[accounts])
        columns["f"].append(np.full(len(accounts), flag))
        columns["s"].append(rng.integers(*score_range, len(accounts)))
        columns["r"].append(first_reason + rng.integers(0, reasons, len(accounts)))
    a, t, f, s, r = (np.concatenate(columns[k]) for k in ("a", "t", "f", "s", "r"))
    order = np.lexsort((a, t))
    base = int(key.start_s - BACKLOG_S - SECONDS_PER_DAY)
    return RiskEvents(a[order], t[order], f[order], s[order], r[order], base)
