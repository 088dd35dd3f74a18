"""Which transactions are fraudulent, and the cases the fraud team reports about them.

Fraud is drawn from a logistic model of signals a pipeline can rebuild from the feeds: young
source accounts, accounts flagged by the risk feed before the payment, amounts far above the
payer's own usual ones, bursts of payments within an hour, first-time payer/payee pairs, night
time, cross-border payments and unfamiliar devices. The intercept is solved so that the fraud
rate hits ``TARGET_FRAUD_RATE``; what the signals do not explain is noise on both sides.

The rate, 2.5%, is far above a card issuer's (about 0.1%), where a team trains on millions of
payments. It is set so that a model trained on the demo's tens of thousands of transactions is
judged on a test split (the last 15% by time) holding a hundred or more confirmed frauds: with
a handful, PR-AUC and recall swing on one case and the promotion gate would promote noise.

Every fraudulent transaction is reported 30 to 60 days after it happened, together with false
alarms drawn among innocent transactions that look suspicious; a later row settles each case as
confirmed (fraud) or false_positive. ``reported_ts`` of a row is when that status was reported.
Every case is settled within ``SETTLED_WITHIN_DAYS`` of its transaction, counting the week a
settling row may wait for the delivery after its report's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.generate.payments.accounts import UTC_OFFSET_MINUTES, AccountBook
from lakehouse.generate.payments.contract import CONFIRMED, FALSE_POSITIVE
from lakehouse.generate.payments.formats import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
)
from lakehouse.generate.payments.plan import DAYS_PER_WEEK
from lakehouse.generate.payments.risk import RiskEvents
from lakehouse.generate.payments.seeding import PaymentStream, payment_rng
from lakehouse.generate.payments.transactions import POS, Transactions

YOUNG_ACCOUNT_DAYS = 30
VELOCITY_WINDOW_S = SECONDS_PER_HOUR
VELOCITY_MIN_TRANSACTIONS = 3
NIGHT_HOURS = (0, 6)  # local time, end exclusive
# Log-odds added by each signal.
SIGNAL_WEIGHTS = {
    "young_source": 2.3,
    "source_flagged": 2.6,
    "destination_flagged": 1.2,
    "unusual_amount": 2.0,
    "velocity_burst": 1.7,
    "first_time_pair": 0.8,
    "night_time": 0.6,
    "cross_border": 0.7,
    "unfamiliar_device": 0.6,
}
SIGNALS = tuple(SIGNAL_WEIGHTS)
TARGET_FRAUD_RATE = 0.025
INTERCEPT_SEARCH_RANGE = (-30.0, 10.0)
INTERCEPT_SEARCH_STEPS = 60

FRAUD_TYPES = (
    "card_not_present", "account_takeover", "synthetic_identity", "money_mule",
    "card_present_counterfeit",
)  # fmt: skip
CARD_NOT_PRESENT, ACCOUNT_TAKEOVER, SYNTHETIC_IDENTITY, MONEY_MULE, COUNTERFEIT = range(
    len(FRAUD_TYPES)
)
FALSE_ALARMS_PER_FRAUD = 0.3
REPORT_DELAY_S = (30 * SECONDS_PER_DAY, 60 * SECONDS_PER_DAY)  # inclusive
RESOLUTION_DELAY_S = (2 * SECONDS_PER_DAY, 21 * SECONDS_PER_DAY)  # end exclusive
# the case feed delivers weekly
SETTLED_WITHIN_DAYS = (REPORT_DELAY_S[1] + RESOLUTION_DELAY_S[1]) // SECONDS_PER_DAY + DAYS_PER_WEEK
PAIR_KEY_SPAN = 2**32
ACCOUNT_KEY_SPAN = 2**36


@dataclass(frozen=True, eq=False)
class FraudTruth:
    """Signals, fraud probability and label of every transaction."""

    signals: dict[str, np.ndarray]
    probability: np.ndarray
    is_fraud: np.ndarray


@dataclass(frozen=True, eq=False)
class FraudCases:
    """One case per reported transaction (fraud or false alarm), with its two status times."""

    transaction: np.ndarray
    fraud_type: np.ndarray
    final_status: np.ndarray  # CONFIRMED or FALSE_POSITIVE
    reported_s: np.ndarray
    resolved_s: np.ndarray

    def __len__(self) -> int:
        return len(self.transaction)


def _transactions_in_last_window(source: np.ndarray, ts: np.ndarray, base_s: int) -> np.ndarray:
    """How many transactions the source made in the window ending at each one (itself included)."""
    keys = source.astype(np.int64) * ACCOUNT_KEY_SPAN + (ts - base_s)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    within = np.arange(len(keys)) - np.searchsorted(
        sorted_keys, sorted_keys - VELOCITY_WINDOW_S, "right"
    )
    counts = np.empty(len(keys), dtype=np.int64)
    counts[order] = within + 1
    return counts


def _is_first_pair(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """Whether each transaction is the first (in time order) from its source to its payee."""
    pairs = source.astype(np.int64) * PAIR_KEY_SPAN + destination
    _, first = np.unique(pairs, return_index=True)
    is_first = np.zeros(len(pairs), dtype=bool)
    is_first[first] = True
    return is_first


def compute_signals(
    book: AccountBook, risk: RiskEvents, txns: Transactions
) -> dict[str, np.ndarray]:
    """The boolean fraud signals of every transaction, as known at its time."""
    ts, src, dst = txns.ts_s, txns.source, txns.destination
    src_version, dst_version = book.version_at(src, ts), book.version_at(dst, ts)
    src_country = book.version_country[src_version]
    local_s = ts + UTC_OFFSET_MINUTES[src_country] * SECONDS_PER_MINUTE
    local_hour = local_s % SECONDS_PER_DAY // SECONDS_PER_HOUR
    return {
        "young_source": ts - book.created_s[src] < YOUNG_ACCOUNT_DAYS * SECONDS_PER_DAY,
        "source_flagged": risk.flag_at(src, ts) == 1,
        "destination_flagged": risk.flag_at(dst, ts) == 1,
        "unusual_amount": txns.is_spike,
        "velocity_burst": _transactions_in_last_window(src, ts, book.key.start_s)
        >= VELOCITY_MIN_TRANSACTIONS,
        "first_time_pair": _is_first_pair(src, dst),
        "night_time": (NIGHT_HOURS[0] <= local_hour) & (local_hour < NIGHT_HOURS[1]),
        "cross_border": src_country != book.version_country[dst_version],
        "unfamiliar_device": txns.device != book.home_device[src],
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept_for(score: np.ndarray, target: float) -> float:
    """Intercept that makes the mean probability ``target`` (bisection; the mean is monotone)."""
    low, high = INTERCEPT_SEARCH_RANGE
    for _ in range(INTERCEPT_SEARCH_STEPS):
        middle = (low + high) / 2
        if _sigmoid(score + middle).mean() < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def draw_fraud(book: AccountBook, risk: RiskEvents, txns: Transactions) -> FraudTruth:
    """Signals and fraud label of every transaction."""
    signals = compute_signals(book, risk, txns)
    score = sum(SIGNAL_WEIGHTS[name] * signals[name] for name in SIGNALS)
    score = np.asarray(score, dtype=np.float64)
    probability = _sigmoid(score + _intercept_for(score, TARGET_FRAUD_RATE))
    rng = payment_rng(book.key.seed, PaymentStream.FRAUD_LABELS)
    return FraudTruth(signals, probability, rng.random(len(txns)) < probability)


def _fraud_types(signals: dict[str, np.ndarray], channel: np.ndarray) -> np.ndarray:
    return np.select(
        [
            signals["velocity_burst"],
            signals["young_source"],
            signals["destination_flagged"],
            signals["unfamiliar_device"],
            channel == POS,
        ],
        [ACCOUNT_TAKEOVER, SYNTHETIC_IDENTITY, MONEY_MULE, ACCOUNT_TAKEOVER, COUNTERFEIT],
        default=CARD_NOT_PRESENT,
    )


def build_fraud_cases(book: AccountBook, txns: Transactions, truth: FraudTruth) -> FraudCases:
    """Cases for every fraudulent transaction and for false alarms among suspicious ones."""
    rng = payment_rng(book.key.seed, PaymentStream.FRAUD_CASES)
    innocent = ~truth.is_fraud
    # False alarms follow the model's suspicion, so they look like fraud.
    suspicion = np.where(innocent, truth.probability, 0.0)
    wanted = FALSE_ALARMS_PER_FRAUD * truth.is_fraud.sum()
    scale = wanted / suspicion.sum() if suspicion.sum() > 0 else 0.0
    is_false_alarm = rng.random(len(txns)) < np.minimum(suspicion * scale, 1.0)
    cases = np.flatnonzero(truth.is_fraud | is_false_alarm)
    n = len(cases)
    reported = txns.ts_s[cases] + rng.integers(REPORT_DELAY_S[0], REPORT_DELAY_S[1] + 1, n)
    resolved = reported + rng.integers(*RESOLUTION_DELAY_S, n)
    signals = {name: values[cases] for name, values in truth.signals.items()}
    return FraudCases(
        transaction=cases,
        fraud_type=_fraud_types(signals, txns.channel[cases]),
        final_status=np.where(truth.is_fraud[cases], CONFIRMED, FALSE_POSITIVE),
        reported_s=reported,
        resolved_s=resolved,
    )
