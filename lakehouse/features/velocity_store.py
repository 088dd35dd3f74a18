"""The fraud velocity state in Redis, shared by every replica of the service.

``VelocityState`` (``lakehouse.gold.payments_online``) keeps each source account's recent
transactions in the process: two replicas would each see about half of them. This subclass
keeps the same state in a Redis server instead, so that every replica reads and updates one
state, and a restart forgets nothing. Features are computed exactly as in the process (the
same code, on the account's state read from Redis), so they equal Gold's replay.

Per source account (keys under ``prefix``):

- ``a:<account>:e``: a sorted set of its held transactions, scored by time in microseconds
  (exact: below 2**53), each member ``<transaction id>\\0<cents>``, so that members of one
  instant sort by id as the process sorts them;
- ``a:<account>:agg``: the running aggregates of its evicted transactions (count, exact cent
  sum, the double sum and Welford's n, mean and M2, written with 17 significant digits so
  they read back bit for bit);
- ``a:<account>:first``: destination -> the earliest time paid to it.

And for the whole state: ``ids`` (held transaction ids scored by time: a recurring id is
counted once), ``wm`` (the newest time observed) and ``source_version`` (the
``silver/payment_transactions`` version the state was first fed from).

Each observation is one Lua script, atomic on the server: the duplicate check, the insert,
the first-paid time, the watermark and the eviction of what fell behind it (folded into the
aggregates with the very operations of Spark's ``CentralMomentAgg``, in doubles, as Lua
computes). A warm start from Silver happens once per state: the first replica to start takes
a lock and feeds it; the others wait for ``source_version``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from lakehouse.gold.payments_online import (
    DEFAULT_MAX_LATENESS_S,
    VelocityState,
    _SourceAccount,
    silver_rows,
)
from lakehouse.silver.payments_online import PaymentTransaction, as_transaction, cents_of

log = logging.getLogger(__name__)

# KEYS: watermark, ids, entries, aggregates, first-paid; ARGV: id, time (µs), cents,
# destination field, horizon (µs). Returns 1 when added, 0 for a held id.
OBSERVE = """
local id, ts, cents = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[2], id) then return 0 end
redis.call('ZADD', KEYS[3], ts, id .. '\\0' .. ARGV[3])
redis.call('ZADD', KEYS[2], ts, id)
local first = redis.call('HGET', KEYS[5], ARGV[4])
if (not first) or ts < tonumber(first) then redis.call('HSET', KEYS[5], ARGV[4], ARGV[2]) end
local wm = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
if ts > wm then wm = ts end
redis.call('SET', KEYS[1], string.format('%d', wm))
local cutoff = wm - tonumber(ARGV[5])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', cutoff))
if #old == 0 then return 1 end
local agg = redis.call('HMGET', KEYS[4], 'evicted', 'cents', 'sum', 'n', 'avg', 'm2')
local evicted, total = tonumber(agg[1] or '0'), tonumber(agg[2] or '0')
local sum, n = tonumber(agg[3] or '0'), tonumber(agg[4] or '0')
local avg, m2 = tonumber(agg[5] or '0'), tonumber(agg[6] or '0')
for _, member in ipairs(old) do
  local at = string.find(member, '\\0', 1, true)
  local c = tonumber(string.sub(member, at + 1))
  local x = c / 100
  local new_n = n + 1.0
  local delta = x - avg
  local delta_n = delta / new_n
  total = total + c
  sum = sum + x
  n = new_n
  avg = avg + delta_n
  m2 = m2 + delta * (delta - delta_n)
  evicted = evicted + 1
  redis.call('ZREM', KEYS[2], string.sub(member, 1, at - 1))
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', cutoff))
redis.call('HSET', KEYS[4], 'evicted', string.format('%d', evicted),
  'cents', string.format('%d', total), 'sum', string.format('%.17g', sum),
  'n', string.format('%.17g', n), 'avg', string.format('%.17g', avg),
  'm2', string.format('%.17g', m2))
return 1
"""

# a warm start in progress holds this for at most this long (a killed loader's lock expires)
WARM_LOCK_S = 600
_NO_DESTINATION = "\x00"  # Spark groups null destinations together: so does the state


def state_prefix(base: str, lake_root: str, windows: Mapping[str, int], lateness_s: int) -> str:
    """The keys' prefix: ``base`` and a digest of what the state depends on (the lake, the
    windows, the lateness), so a changed configuration starts a state of its own."""
    identity = f"{lake_root}|{sorted(windows.items())}|{lateness_s}"
    return f"{base}:{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


class RedisVelocityState(VelocityState):
    """``VelocityState`` held in Redis (see the module's docstring).

    Args:
        client: A ``redis.Redis`` client (bytes responses).
        prefix: The state's keys' prefix (``state_prefix``).
        windows: Window name -> seconds, as in the Gold build.
        max_lateness_s: As in ``VelocityState``.
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        windows: Mapping[str, int],
        *,
        max_lateness_s: int = DEFAULT_MAX_LATENESS_S,
    ) -> None:
        super().__init__(windows, max_lateness_s=max_lateness_s)
        self.client = client
        self.prefix = prefix
        self.max_lateness_s = max_lateness_s
        self._observe_script = client.register_script(OBSERVE)
        self._held: int | None = None

    # --- keys --------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _account_keys(self, source: str) -> list[str]:
        return [self._key("a", source, part) for part in ("e", "agg", "first")]

    # --- reads -------------------------------------------------------------------------

    @property
    def held_transactions(self) -> int:
        """Transactions held in the windows, over every replica (as of this replica's last
        batch, or asked now)."""
        if self._held is None:
            self._held = int(self.client.zcard(self._key("ids")))
        return int(self._held)

    @property
    def stored_version(self) -> int | None:
        """The Silver version the shared state was first fed from (None before)."""
        value = self.client.get(self._key("source_version"))
        return None if value is None else int(value)

    def _account(self, source: str, destination: str | None) -> _SourceAccount | None:
        entries_key, agg_key, first_key = self._account_keys(source)
        pipe = self.client.pipeline(transaction=True)  # one instant of the account
        pipe.zrange(entries_key, 0, -1, withscores=True)
        pipe.hgetall(agg_key)
        pipe.hget(first_key, _field(destination))
        entries, aggregates, first = pipe.execute()
        state = _account_state(entries, aggregates)
        if state is not None and first is not None:
            state.first_to[destination] = int(first)
        return state

    # --- writes ------------------------------------------------------------------------

    def _observe(
        self, transaction_id: str, source: str, destination: str | None, ts_us: int, cents: int
    ) -> bool:
        return bool(self._send(transaction_id, source, destination, ts_us, cents))

    def _send(
        self,
        transaction_id: str,
        source: str,
        destination: str | None,
        ts_us: int,
        cents: int,
        pipe: Any = None,
    ) -> Any:
        """The observation script for one transaction, now or queued on ``pipe``."""
        return self._observe_script(
            keys=[self._key("wm"), self._key("ids"), *self._account_keys(source)],
            args=[transaction_id, ts_us, cents, _field(destination), self._horizon_us],
            client=pipe,
        )

    def sweep(self) -> None:
        """Nothing to do: each account is swept on the server when it is observed."""

    @contextmanager
    def batch(self, records: Sequence[PaymentTransaction]) -> Iterator[VelocityState]:
        """An in-process view of what ``records`` need, read in one round trip: the watermark,
        which of their ids are held, their source accounts (transactions, aggregates, the
        first-paid times of their destinations). Features and observations run on the view
        with the in-process code; on exit, the observations go to the server in one pipeline
        of the same script, in the same order, where they are authoritative (a transaction
        another replica observed meanwhile is counted there, not in this request's view).
        """
        records = list(records)
        view = VelocityState(self.windows, max_lateness_s=self.max_lateness_s)
        destinations: dict[str, list[str | None]] = {}
        for record in records:
            payees = destinations.setdefault(record.source_account_id, [])
            if record.destination_account_id not in payees:
                payees.append(record.destination_account_id)
        pipe = self.client.pipeline(transaction=True)  # one instant of the state
        pipe.get(self._key("wm"))
        if records:
            pipe.zmscore(self._key("ids"), [r.transaction_id for r in records])
        for source, payees in destinations.items():
            entries, agg, first = self._account_keys(source)
            pipe.zrange(entries, 0, -1, withscores=True)
            pipe.hgetall(agg)
            pipe.hmget(first, [_field(p) for p in payees])
        found = iter(pipe.execute())
        watermark = next(found)
        view.watermark_us = None if watermark is None else int(watermark)
        if records:
            held = next(found)
            pairs = zip(records, held, strict=True)
            view._held_ids = {r.transaction_id for r, score in pairs if score is not None}
        for source, payees in destinations.items():
            entries, aggregates, firsts = next(found), next(found), next(found)
            account = _account_state(entries, aggregates)
            if account is not None:
                for payee, first in zip(payees, firsts, strict=True):
                    if first is not None:
                        account.first_to[payee] = int(first)
                view._accounts[source] = account
        observed: list[PaymentTransaction] = []
        real_observe = view.observe

        def observe(txn) -> bool:
            record = as_transaction(txn)
            observed.append(record)
            return real_observe(record)

        view.observe = observe  # type: ignore[method-assign]
        yield view
        if observed:
            pipe = self.client.pipeline(transaction=False)
            for r in observed:
                self._send(
                    r.transaction_id,
                    r.source_account_id,
                    r.destination_account_id,
                    r.ts_us,
                    cents_of(r.amount),
                    pipe,
                )
            pipe.zcard(self._key("ids"))
            *_, self._held = pipe.execute()

    def warm_start(self, transactions: pd.DataFrame) -> int:
        """Observe Silver transactions in (time, id) order, pipelined (a replay of rows
        already held adds nothing: their ids are known while they are held)."""
        rows = silver_rows(transactions)
        added = 0
        for start in range(0, len(rows), 2_000):
            pipe = self.client.pipeline(transaction=False)
            for ts_us, transaction_id, source, destination, cents in rows[start : start + 2_000]:
                self._send(transaction_id, source, destination, ts_us, cents, pipe)
            added += sum(int(r) for r in pipe.execute())
        return added

    def feed_once(self, transactions: pd.DataFrame, version: int | None, wait_s: float) -> int:
        """Warm-start the shared state from Silver unless a replica did already.

        The first replica to get here takes a lock (expiring after ``WARM_LOCK_S``), feeds
        the state and records ``version``; the others wait up to ``wait_s`` for that record.

        Returns:
            How many transactions this call added (0 when the state was fed before).

        Raises:
            TimeoutError: Another replica's warm start did not finish within ``wait_s``.
        """
        if self.stored_version is not None or self.client.exists(self._key("fed")):
            self.source_version = self.stored_version
            return 0
        lock = self._key("warming")
        deadline = time.monotonic() + wait_s
        while not self.client.set(lock, "1", nx=True, ex=WARM_LOCK_S):
            if self.client.exists(self._key("fed")):
                self.source_version = self.stored_version
                return 0
            if time.monotonic() > deadline:
                raise TimeoutError("another replica is still loading the shared velocity state")
            time.sleep(0.2)
        try:
            if self.client.exists(self._key("fed")):  # fed while this one waited for the lock
                self.source_version = self.stored_version
                return 0
            added = self.warm_start(transactions)
            pipe = self.client.pipeline(transaction=True)
            if version is not None:
                pipe.set(self._key("source_version"), version)
            pipe.set(self._key("fed"), "1")
            pipe.execute()
            self.source_version = version
            log.info("shared velocity state fed from Silver: %d transaction(s)", added)
            return added
        finally:
            self.client.delete(lock)


def _account_state(entries: list, aggregates: dict) -> _SourceAccount | None:
    """An account's in-process state from its stored transactions and aggregates (its
    first-paid times are added by the caller); None for an account never seen."""
    if not entries and not aggregates:
        return None
    state = _SourceAccount()
    if aggregates:
        state.evicted = int(aggregates[b"evicted"])
        state.cum_cents = [int(aggregates[b"cents"])]
        state.cum_sum = [float(aggregates[b"sum"])]
        state.cum_n = [float(aggregates[b"n"])]
        state.cum_avg = [float(aggregates[b"avg"])]
        state.cum_m2 = [float(aggregates[b"m2"])]
    for k, (member, score) in enumerate(entries):
        transaction_id, _, cents = member.partition(b"\x00")
        state.ts.append(int(score))
        state.ids.append(transaction_id.decode())
        state.cents.append(int(cents))
        state._accumulate(k)
    return state


def _field(destination: str | None) -> str:
    return _NO_DESTINATION if destination is None else f"d{destination}"
