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
- ``a:<account>:first``: destination -> the earliest time paid to it;
- ``a:<account>:v``: the account's version, a new value of the state's ``clock`` at each
  change (so never the same value twice for one state).

And for the whole state: ``ids`` (held transaction ids scored by time: a recurring id is
counted once), ``wm`` (the newest time observed), ``clock``, ``source_version`` (the
``silver/payment_transactions`` version the state was first fed from) and ``fed`` (set by the
warm start: a token naming this state's life, which a wiped and fed-again state changes).

A replica keeps the accounts it read last (``cache_accounts`` of them) with their versions:
a request's read sends the cached versions, and the server ships an account's transactions
and aggregates only when its version differs. After a request's observations are written,
the replica keeps its own updated copies when the server applied them to exactly the state
the request read (the same watermark, each account at the version read, each id's outcome
the same); else it forgets them and reads them whole next time.

Observations go through one Lua script (a request's all in one call), atomic on the server:
the duplicate check, the insert, the first-paid time, the watermark and the eviction of what
fell behind it (folded into the aggregates with the very operations of Spark's
``CentralMomentAgg``, in doubles, as Lua computes). A warm start from Silver happens once per
state: the first replica to start takes a lock and feeds it; the others wait for
``source_version``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lakehouse.config import DEFAULT_CACHE_ACCOUNTS
from lakehouse.gold.payments_online import (
    DEFAULT_MAX_LATENESS_S,
    VelocityState,
    _SourceAccount,
    silver_rows,
)
from lakehouse.silver.payments_online import PaymentTransaction, as_transaction, cents_of

log = logging.getLogger(__name__)

# KEYS: the watermark, the ids, the clock, then per transaction its account's entries,
# aggregates, first-paid times and version; ARGV: per transaction its id, time (µs), cents and
# destination field, then the horizon (µs). Observes the transactions in order; returns the
# watermark before them, per transaction 1 when added (0 for a held id), and per transaction
# its account's version before and after it.
OBSERVE = """
local function observe(wm_key, ids, clock, entries, aggs, firsts, version, id, ts_text,
                       cents_text, dest, horizon)
  local ts = tonumber(ts_text)
  if redis.call('ZSCORE', ids, id) then return 0 end
  redis.call('SET', version, redis.call('INCR', clock))
  redis.call('ZADD', entries, ts, id .. '\\0' .. cents_text)
  redis.call('ZADD', ids, ts, id)
  local first = redis.call('HGET', firsts, dest)
  if (not first) or ts < tonumber(first) then redis.call('HSET', firsts, dest, ts_text) end
  local wm = tonumber(redis.call('GET', wm_key) or ts_text)
  if ts > wm then wm = ts end
  redis.call('SET', wm_key, string.format('%d', wm))
  local cutoff = '(' .. string.format('%d', wm - horizon)
  local old = redis.call('ZRANGEBYSCORE', entries, '-inf', cutoff)
  if #old == 0 then return 1 end
  local agg = redis.call('HMGET', aggs, 'evicted', 'cents', 'sum', 'n', 'avg', 'm2')
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
    redis.call('ZREM', ids, string.sub(member, 1, at - 1))
  end
  redis.call('ZREMRANGEBYSCORE', entries, '-inf', cutoff)
  redis.call('HSET', aggs, 'evicted', string.format('%d', evicted),
    'cents', string.format('%d', total), 'sum', string.format('%.17g', sum),
    'n', string.format('%.17g', n), 'avg', string.format('%.17g', avg),
    'm2', string.format('%.17g', m2))
  return 1
end
local horizon = tonumber(ARGV[#ARGV])
local wm_before = redis.call('GET', KEYS[1]) or false
local added, versions = {}, {}
for i = 0, (#ARGV - 1) / 4 - 1 do
  local k, a = 4 + 4 * i, 1 + 4 * i
  versions[2 * i + 1] = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
  added[i + 1] = observe(KEYS[1], KEYS[2], KEYS[3], KEYS[k], KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], horizon)
  versions[2 * i + 2] = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
end
return {wm_before, added, versions}
"""

# KEYS: the watermark, the ids, the warm start's token, then per account its entries,
# aggregates, first-paid times and version; ARGV: the number of ids, the ids, then per account
# the version the replica holds (-1: none), the number of its destination fields and the
# fields. Returns the watermark, the token, each id's time if held, and per account its
# version, the destinations' times, and, unless that version is the one held, its entries
# (member, score, ...) and aggregates (field, value, ...).
READ = """
local out = {redis.call('GET', KEYS[1]) or false, redis.call('GET', KEYS[3]) or false}
local ids = tonumber(ARGV[1])
local held = {}
for i = 1, ids do held[i] = redis.call('ZSCORE', KEYS[2], ARGV[1 + i]) or false end
out[3] = held
local accounts, a = {}, 2 + ids
for k = 4, #KEYS, 4 do
  local cached, n, fields = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), {}
  for j = 1, n do fields[j] = ARGV[a + 1 + j] end
  a = a + n + 2
  local firsts = {}
  if n > 0 then firsts = redis.call('HMGET', KEYS[k + 2], unpack(fields)) end
  local version = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
  if version == cached then
    accounts[#accounts + 1] = {version, firsts}
  else
    accounts[#accounts + 1] = {
      version, firsts, redis.call('ZRANGE', KEYS[k], 0, -1, 'WITHSCORES'),
      redis.call('HGETALL', KEYS[k + 1])
    }
  end
end
out[4] = accounts
return out
"""

# a warm start in progress holds this for at most this long (a killed loader's lock expires)
WARM_LOCK_S = 600
# transactions per script call of a warm start (the server serves nothing else meanwhile)
WARM_CHUNK = 500
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
        cache_accounts: How many accounts this replica keeps between requests (0: none; the
            least recently used go first).

    Attributes:
        cache_hits: Accounts a request's read found unchanged in this replica's cache.
    """

    remote = True

    def __init__(
        self,
        client: Any,
        prefix: str,
        windows: Mapping[str, int],
        *,
        max_lateness_s: int = DEFAULT_MAX_LATENESS_S,
        cache_accounts: int = DEFAULT_CACHE_ACCOUNTS,
    ) -> None:
        super().__init__(windows, max_lateness_s=max_lateness_s)
        if cache_accounts < 0:
            raise ValueError("cache_accounts must not be negative")
        self.client = client
        self.prefix = prefix
        self.max_lateness_s = max_lateness_s
        self.cache_accounts = cache_accounts
        self.cache_hits = 0
        self._observe_script = client.register_script(OBSERVE)
        self._read_script = client.register_script(READ)
        self._held: int | None = None
        # account -> (its version, its state as of that version); never handed out itself
        self._cache: OrderedDict[str, tuple[int, _SourceAccount]] = OrderedDict()
        self._cache_token: bytes | None = None  # the warm start's token the cache holds
        self._cache_lock = threading.Lock()

    # --- keys --------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _account_keys(self, source: str) -> list[str]:
        return [self._key("a", source, part) for part in ("e", "agg", "first", "v")]

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
        entries_key, agg_key, first_key, _ = self._account_keys(source)
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
        _, added, _ = self._send([(ts_us, transaction_id, source, destination, cents)])
        return bool(added[0])

    def _send(self, rows: Sequence[tuple], pipe: Any = None) -> Any:
        """The observation script for ``rows`` (time µs, id, source, destination, cents), in
        order, in one call: now, or queued on ``pipe``. Its answer: the watermark before,
        per row 1 when added, per row its account's version before and after."""
        keys = [self._key("wm"), self._key("ids"), self._key("clock")]
        args: list[Any] = []
        for ts_us, transaction_id, source, destination, cents in rows:
            keys.extend(self._account_keys(source))
            args.extend((transaction_id, ts_us, cents, _field(destination)))
        args.append(self._horizon_us)
        return self._observe_script(keys=keys, args=args, client=pipe)

    def sweep(self) -> None:
        """Nothing to do: each account is swept on the server when it is observed."""

    @contextmanager
    def batch(self, records: Sequence[PaymentTransaction]) -> Iterator[VelocityState]:
        """An in-process view of what ``records`` need, read by one script call: the
        watermark, which of their ids are held, their source accounts (transactions,
        aggregates, the first-paid times of their destinations; an account this replica
        holds at the current version comes from its cache). Features and observations run
        on the view with the in-process code; on exit, the observations go to the server in
        one call of the observation script, in the same order, where they are authoritative (a
        transaction another replica observed meanwhile is counted there, not in this request's
        view).
        """
        records = list(records)
        destinations: dict[str, list[str | None]] = {}
        for record in records:
            payees = destinations.setdefault(record.source_account_id, [])
            if record.destination_account_id not in payees:
                payees.append(record.destination_account_id)
        view, read = self._read(records, destinations)
        observed: list[PaymentTransaction] = []
        outcomes: list[bool] = []
        real_observe = view.observe

        def observe(txn) -> bool:
            record = as_transaction(txn)
            observed.append(record)
            outcomes.append(real_observe(record))
            return outcomes[-1]

        view.observe = observe  # type: ignore[method-assign]
        yield view
        written = None
        if observed:
            pipe = self.client.pipeline(transaction=False)
            rows = [
                (r.ts_us, r.transaction_id, r.source_account_id, r.destination_account_id, c)
                for r, c in ((r, cents_of(r.amount)) for r in observed)
            ]
            self._send(rows, pipe)
            pipe.zcard(self._key("ids"))
            written, self._held = pipe.execute()
        self._remember(view, read, observed, outcomes, written)

    def _read(
        self, records: list[PaymentTransaction], destinations: dict[str, list[str | None]]
    ) -> tuple[VelocityState, _Read]:
        """The view of ``records``' state, and what it was read as (one script call; two if
        the state was wiped and fed again since this replica's cache was filled)."""
        with self._cache_lock:
            cached = {s: self._cache.get(s) for s in destinations} if self.cache_accounts else {}
            token = self._cache_token
        keys = [self._key("wm"), self._key("ids"), self._key("fed")]
        args: list[Any] = [len(records), *(r.transaction_id for r in records)]
        for source, payees in destinations.items():
            keys.extend(self._account_keys(source))
            hit = cached.get(source)
            args.extend((-1 if hit is None else hit[0], len(payees), *map(_field, payees)))
        # one script: one instant of the state
        watermark, fed, held, accounts = self._read_script(keys=keys, args=args)
        if fed != token and any(len(reply) == 2 for reply in accounts):
            # versions count from the state's birth: another life's equal version is not
            # the same state, so forget every cached account and read them again, whole
            with self._cache_lock:
                self._adopt(fed)
            return self._read(records, destinations)
        view = _RequestView(self.windows, max_lateness_s=self.max_lateness_s)
        view.watermark_us = None if watermark is None else int(watermark)
        pairs = zip(records, held, strict=True)
        view._held_ids = {r.transaction_id for r, score in pairs if score is not None}
        versions: dict[str, int] = {}
        for (source, payees), reply in zip(destinations.items(), accounts, strict=True):
            version, firsts = int(reply[0]), reply[1]
            versions[source] = version
            if len(reply) == 2:  # unchanged since this replica cached it
                self.cache_hits += 1
                account: _SourceAccount | None = cached[source][1].copy()
            else:
                flat, aggregates = reply[2], reply[3]
                entries = list(zip(flat[0::2], map(float, flat[1::2]), strict=True))
                stored = dict(zip(aggregates[0::2], aggregates[1::2], strict=True))
                account = _account_state(entries, stored)
            if account is not None:
                for payee, first in zip(payees, firsts, strict=True):
                    if first is not None:
                        account.first_to[payee] = int(first)
                view._accounts[source] = account
        return view, _Read(watermark, fed, versions)

    def _adopt(self, fed: bytes | None) -> None:
        """The cache holds the state's life named ``fed`` from now on: another life's copies
        go (versions count from a state's birth). Called with the cache's lock held."""
        if self._cache_token != fed:
            self._cache.clear()
            self._cache_token = fed

    def _remember(
        self,
        view: VelocityState,
        read: _Read,
        observed: list[PaymentTransaction],
        outcomes: list[bool],
        written: list | None,
    ) -> None:
        """Keep the request's accounts for the next request: as read when it did not change
        them, as it left them when the server applied its observations to exactly the state
        it read; forget the others."""
        if not self.cache_accounts or read.fed is None:
            return
        before: dict[str, int] = {}
        after: dict[str, int] = {}
        same = True
        if written is not None:
            watermark, added, versions = written
            same = watermark == read.watermark and [bool(a) for a in added] == outcomes
            for record, was, now in zip(observed, versions[0::2], versions[1::2], strict=True):
                before.setdefault(record.source_account_id, int(was))
                after[record.source_account_id] = int(now)
        with self._cache_lock:
            self._adopt(read.fed)
            for source, version in read.versions.items():
                account = view._accounts.get(source)
                if source in after:
                    if not (same and before[source] == version and account is not None):
                        self._cache.pop(source, None)
                        continue
                    version = after[source]
                elif account is None:
                    continue
                self._cache[source] = (version, account)
                self._cache.move_to_end(source)
            while len(self._cache) > self.cache_accounts:
                self._cache.popitem(last=False)

    def warm_start(self, transactions: pd.DataFrame) -> int:
        """Observe Silver transactions in (time, id) order, pipelined (a replay of rows
        already held adds nothing: their ids are known while they are held)."""
        rows = silver_rows(transactions)
        added = 0
        for start in range(0, len(rows), WARM_CHUNK):
            _, outcomes, _ = self._send(rows[start : start + WARM_CHUNK])
            added += sum(int(r) for r in outcomes)
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
            pipe.set(self._key("fed"), uuid.uuid4().hex)  # this life of the state
            pipe.execute()
            self.source_version = version
            log.info("shared velocity state fed from Silver: %d transaction(s)", added)
            return added
        finally:
            self.client.delete(lock)


class _RequestView(VelocityState):
    """A request's in-process copy of its accounts. It evicts an account only when it
    observes it, as the server does (no sweep of the others), so that its accounts stay
    the server's, bit for bit, and a replica may keep them."""

    def sweep(self) -> None:
        """Nothing: the server sweeps an account when it observes it."""


@dataclass(frozen=True)
class _Read:
    """What a request's view was read as: the watermark and warm-start token (as the
    server stores them) and each account's version."""

    watermark: bytes | None
    fed: bytes | None
    versions: dict[str, int]


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
