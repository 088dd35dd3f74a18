"""Online fraud features: one transaction through the Silver and Gold twins.

The prediction service receives one transaction as JSON (CONTRACT 1.2 column names) and must
feed the model exactly the values Spark computes in batch:

- Silver (``lakehouse.silver.payments_online``): ``parse_transaction`` validates and types the
  request and raises ``FeatureError`` with Silver's reason code (``parse_transactions``: a
  request's list, a column at a time);
- Gold (``lakehouse.gold.payments_online``): ``transaction_features`` (one), ``feature_rows``
  (a request's, as columns) and ``frame`` (a batch, as a DataFrame) answer from the account
  history and the velocity state.

This module loads that state from the lake without a JVM (``lakehouse.io.delta_reader``).
``tests/silver`` and ``tests/gold`` prove each step equal to Spark.
"""

from __future__ import annotations

from lakehouse.config import Settings
from lakehouse.gold.payments_online import (
    ACCOUNT_VERSION_COLUMNS,
    DEFAULT_MAX_LATENESS_S,
    RISK_INTERVAL_COLUMNS,
    VELOCITY_COLUMNS,
    AccountHistory,
    VelocityState,
    feature_rows,
    frame,
    transaction_features,
)
from lakehouse.io.delta_reader import read_lake_table
from lakehouse.silver.payments_online import parse_transaction, parse_transactions
from lakehouse.tables import SILVER_ACCOUNTS, SILVER_RISK_INTERVALS, SILVER_TRANSACTIONS

__all__ = [
    "feature_rows",
    "frame",
    "load_account_history",
    "load_velocity_state",
    "parse_transaction",
    "parse_transactions",
    "transaction_features",
]

# A table that does not exist yet: no rows, no version.
_ABSENT = (None, None)


def load_account_history(settings: Settings) -> AccountHistory:
    """Read ``silver/accounts`` and ``silver/risk_intervals`` (latest versions) without Spark.

    A table that does not exist yet reads as empty, as in the Gold build.
    """
    versions, versions_version = (
        read_lake_table(settings, SILVER_ACCOUNTS, ACCOUNT_VERSION_COLUMNS) or _ABSENT
    )
    risk, risk_version = (
        read_lake_table(settings, SILVER_RISK_INTERVALS, RISK_INTERVAL_COLUMNS) or _ABSENT
    )
    return AccountHistory(
        versions,
        risk,
        {SILVER_ACCOUNTS.key: versions_version, SILVER_RISK_INTERVALS.key: risk_version},
    )


def load_velocity_state(
    settings: Settings, *, max_lateness_s: int = DEFAULT_MAX_LATENESS_S
) -> VelocityState:
    """A state warm-started from ``silver/payment_transactions`` (latest version, no Spark):
    the process's own, or, with ``serve.online_store.url`` (or ``secrets.online_store_url``),
    the one in Redis that every replica shares (fed from Silver once, by the first replica
    to start)."""
    from lakehouse.secrets import online_store_url

    windows = settings.payments.velocity_windows_s
    store = settings.serve.online_store
    url = online_store_url(settings) or store.url
    if url is None:
        state = VelocityState(windows, max_lateness_s=max_lateness_s)
        transactions, version = (
            read_lake_table(settings, SILVER_TRANSACTIONS, VELOCITY_COLUMNS) or _ABSENT
        )
        state.warm_start(transactions)
        state.source_version = version
        return state
    import redis

    from lakehouse.features.velocity_store import (
        RedisVelocityState,
        async_client_of,
        state_prefix,
    )

    client = redis.Redis.from_url(
        url, socket_timeout=store.timeout_s, socket_connect_timeout=store.timeout_s
    )
    prefix = state_prefix(store.prefix, settings.lake_root, windows, max_lateness_s)
    shared = RedisVelocityState(
        client,
        prefix,
        windows,
        max_lateness_s=max_lateness_s,
        cache_accounts=store.cache_accounts,
        async_client=lambda: async_client_of(url, store.timeout_s),
    )
    if shared.stored_version is None:  # not fed yet: read Silver (another may feed it first)
        transactions, version = (
            read_lake_table(settings, SILVER_TRANSACTIONS, VELOCITY_COLUMNS) or _ABSENT
        )
    else:
        transactions, version = None, None
    shared.feed_once(transactions, version, store.load_wait_s)
    _ = shared.held_transactions  # counted here, off the event loop that /ready runs on
    return shared
