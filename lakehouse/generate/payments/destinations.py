"""Who gets paid: payees drawn by popularity among accounts that exist at payment time.

A pool is a set of accounts (all, or merchants only; of one country, or of any) sorted by
creation time with cumulative popularity, so that "an account of the pool that exists at time
t" is a prefix of it and one ``searchsorted`` draws from that prefix for millions of payments.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from lakehouse.generate.payments.accounts import MERCHANT, AccountBook

ANY_COUNTRY = -1
NO_ACCOUNT = -1


class PayeePools:
    """Pools of an account book, built on first use."""

    def __init__(self, book: AccountBook):
        self._book = book
        self._pools: dict[tuple[bool, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @cached_property
    def _opening_version(self) -> np.ndarray:
        book = self._book
        return book.version_at(np.arange(len(book)), book.created_s)

    def _pool(self, merchants_only: bool, country: int):
        key = (merchants_only, country)
        if key not in self._pools:
            book = self._book
            members = np.ones(len(book), dtype=bool)
            if merchants_only:  # merchants stay merchants
                members &= book.version_type[self._opening_version] == MERCHANT
            if country != ANY_COUNTRY:
                members &= book.version_country[self._opening_version] == country
            ids = np.flatnonzero(members)
            ids = ids[np.argsort(book.created_s[ids], kind="stable")]
            self._pools[key] = (ids, book.created_s[ids], np.cumsum(book.popularity[ids]))
        return self._pools[key]

    def _draw_from(self, key, payer, at_s, u) -> np.ndarray:
        ids, created, cumulative = self._pool(*key)
        if not len(ids):
            return np.full(len(payer), NO_ACCOUNT, dtype=np.int64)
        existing = np.searchsorted(created, at_s, "right")
        last = np.maximum(existing - 1, 0)
        pick = np.minimum(np.searchsorted(cumulative, u * cumulative[last], "right"), last)
        # Nobody pays themselves: take the neighbour in the pool instead, when there is one.
        is_self = ids[pick] == payer
        pick = np.where(is_self, (pick + 1) % np.maximum(existing, 1), pick)
        usable = (existing >= 1) & (~is_self | (existing >= 2))
        return np.where(usable, ids[pick], NO_ACCOUNT)

    def draw(
        self,
        rng: np.random.Generator,
        payer: np.ndarray,
        at_s: np.ndarray,
        country: np.ndarray,
        wants_merchant: np.ndarray,
        wants_domestic: np.ndarray,
    ) -> np.ndarray:
        """One payee per payment, existing at its time and never the payer itself.

        When the wanted pool has nobody yet, the wish for a merchant is kept and the country
        is widened first, then any account will do.
        """
        n = len(payer)
        u = rng.random(n)
        payee = np.full(n, NO_ACCOUNT, dtype=np.int64)
        levels = (
            (wants_merchant, wants_domestic),
            (wants_merchant, np.zeros(n, bool)),
            (np.zeros(n, bool), wants_domestic),
            (np.zeros(n, bool), np.zeros(n, bool)),
        )
        for merchant, domestic in levels:
            pending = payee == NO_ACCOUNT
            pool_country = np.where(domestic, country, ANY_COUNTRY)
            for m in (False, True):
                for c in np.unique(pool_country[pending & (merchant == m)]).tolist():
                    rows = np.flatnonzero(pending & (merchant == m) & (pool_country == c))
                    payee[rows] = self._draw_from((m, c), payer[rows], at_s[rows], u[rows])
        if (payee == NO_ACCOUNT).any():
            raise ValueError("too few accounts: some payments have nobody to pay")
        return payee
