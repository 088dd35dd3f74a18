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

A request is one call of a Lua script, atomic on the server: it reads what the request's
features need (the watermark, which of its ids are held, its source accounts) and then
observes its transactions in order: the duplicate check, the insert, the first-paid time,
the watermark and the eviction of what fell behind it (folded into the aggregates with the
very operations of Spark's ``CentralMomentAgg``, in doubles, as Lua computes). So requests
are serial on the server, and each replica's features are those of one process that saw the
requests in the server's order. The replica computes the features on its copy of the state
as it was before the request, observing each transaction there after its features, as the
process does.

A replica keeps the accounts it served last (``cache_accounts`` of them) with their versions:
a request sends the cached versions, and the server ships an account's transactions and
aggregates only when its version differs. After the request, the replica's copy of each of its
accounts is the server's state at the version the script returned, and it keeps it.

A warm start from Silver happens once per state: the first replica to start takes a lock and
feeds it; the others wait for ``source_version``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import redis

from lakehouse.config import DEFAULT_CACHE_ACCOUNTS
from lakehouse.gold.payments_online import (
    DEFAULT_MAX_LATENESS_S,
    VelocityState,
    _SourceAccount,
    silver_rows,
)
from lakehouse.silver.payments_online import PaymentTransaction, as_transaction, cents_of

log = logging.getLogger(__name__)

# Observations (Lua), in a call's context ``ctx``: the duplicate check, the insert, the
# first-paid time, the watermark, and the eviction of what fell behind it into the running
# aggregates. What a call reads more than once is kept in ``ctx`` (the watermark, whether an id
# is held, each account's oldest entry); an account's version takes a new value of the clock
# once per call, before its first write, and the watermark is written once at the end, so
# that a transaction costs its few writes.
_OBSERVE_FUNCTION = """
local function context(wm_key, clock)
  return {wm = tonumber(redis.call('GET', wm_key) or false), moved = false, held = {},
          oldest = {}, changed = {}, clock = clock}
end
local function is_held(ctx, ids, id)
  local held = ctx.held[id]
  if held == nil then
    held = redis.call('ZSCORE', ids, id) ~= false
    ctx.held[id] = held
  end
  return held
end
local function observe(ctx, ids, entries, aggs, firsts, version, id, ts_text, cents_text, dest,
                       horizon)
  local ts = tonumber(ts_text)
  if is_held(ctx, ids, id) then return 0 end
  if not ctx.changed[version] then  -- before its first write: a new value of the clock
    ctx.changed[version] = true
    redis.call('SET', version, redis.call('INCR', ctx.clock))
  end
  redis.call('ZADD', entries, ts, id .. '\\0' .. cents_text)
  redis.call('ZADD', ids, ts, id)
  ctx.held[id] = true
  local first = redis.call('HGET', firsts, dest)
  if (not first) or ts < tonumber(first) then redis.call('HSET', firsts, dest, ts_text) end
  if ctx.wm == nil or ts > ctx.wm then
    ctx.wm = ts
    ctx.moved = true
  end
  local cutoff = ctx.wm - horizon
  local oldest = ctx.oldest[entries]
  if oldest == nil then
    oldest = tonumber(redis.call('ZRANGE', entries, 0, 0, 'WITHSCORES')[2])
  elseif ts < oldest then
    oldest = ts
  end
  if oldest >= cutoff then
    ctx.oldest[entries] = oldest
    return 1
  end
  ctx.oldest[entries] = nil
  local bound = '(' .. string.format('%d', cutoff)
  local old = redis.call('ZRANGEBYSCORE', entries, '-inf', bound)
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
    local gone = string.sub(member, 1, at - 1)
    redis.call('ZREM', ids, gone)
    ctx.held[gone] = false
  end
  redis.call('ZREMRANGEBYSCORE', entries, '-inf', bound)
  redis.call('HSET', aggs, 'evicted', string.format('%d', evicted),
    'cents', string.format('%d', total), 'sum', string.format('%.17g', sum),
    'n', string.format('%.17g', n), 'avg', string.format('%.17g', avg),
    'm2', string.format('%.17g', m2))
  return 1
end
local function finish(ctx, wm_key)
  if ctx.moved then redis.call('SET', wm_key, string.format('%d', ctx.wm)) end
end
"""

# KEYS: the watermark, the ids, the clock, then per transaction its account's entries,
# aggregates, first-paid times and version; ARGV: per transaction its id, time (µs), cents and
# destination field, then the horizon (µs). Observes the transactions in order (a warm start's
# chunk, or one observation); returns per transaction 1 when added (0 for a held id).
OBSERVE = (
    _OBSERVE_FUNCTION
    + """
local horizon = tonumber(ARGV[#ARGV])
local ctx, added = context(KEYS[1], KEYS[3]), {}
for i = 0, (#ARGV - 1) / 4 - 1 do
  local k, a = 4 + 4 * i, 1 + 4 * i
  added[i + 1] = observe(ctx, KEYS[2], KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], horizon)
end
finish(ctx, KEYS[1])
return added
"""
)

# One request, atomically: what its transactions' features read, then their observations.
# KEYS: the watermark, the ids, the clock, the warm start's token, then per account its
# entries, aggregates, first-paid times and version. ARGV: the token the replica's cache holds
# ('' for none), the horizon (µs), then two lists of fields joined by the unit separator
# (\x1f, which no field holds: Silver strips C0 controls; one long argument packs and parses
# in a fraction of the time thousands do): per account the version the replica holds (-1:
# none), the number of its destination fields and the fields; per transaction its account's
# position (from 1), id, time (µs), cents and destination field. Returns, as of before the
# request: the watermark, the token, per account its version, the destinations' times and,
# unless the replica holds that version of this life of the state, its entries (member,
# score, ...) and aggregates (field, value, ...), and per transaction its time if its id was
# held; then per transaction 1 when added (0 for a held id), per account its version after
# the request, and how many ids the state holds.
REQUEST = (
    _OBSERVE_FUNCTION
    + """
local function split(text)
  local out, start = {}, 1
  if text == '' then return out end
  while true do
    local at = string.find(text, '\\31', start, true)
    if not at then
      out[#out + 1] = string.sub(text, start)
      return out
    end
    out[#out + 1] = string.sub(text, start, at - 1)
    start = at + 1
  end
end
local token, horizon = ARGV[1], tonumber(ARGV[2])
local per_account, per_transaction = split(ARGV[3]), split(ARGV[4])
local fed = redis.call('GET', KEYS[4]) or false
local same_life = fed and fed == token
local accounts, a, count = {}, 1, (#KEYS - 4) / 4
for i = 1, count do
  local k = 1 + 4 * i
  local cached, n = tonumber(per_account[a]), tonumber(per_account[a + 1])
  local firsts = {}
  for from = a + 2, a + 1 + n, 500 do  -- (unpack takes some thousands of values at most)
    local part = redis.call('HMGET', KEYS[k + 2], unpack(per_account, from,
                                                         math.min(from + 499, a + 1 + n)))
    for x = 1, #part do firsts[#firsts + 1] = part[x] end  -- (false: never paid)
  end
  a = a + n + 2
  local version = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
  if same_life and version == cached then
    accounts[i] = {version, firsts}
  else
    accounts[i] = {version, firsts, redis.call('ZRANGE', KEYS[k], 0, -1, 'WITHSCORES'),
                   redis.call('HGETALL', KEYS[k + 1])}
  end
end
local ctx = context(KEYS[1], KEYS[3])
local out = {redis.call('GET', KEYS[1]) or false, fed, accounts}
local held, added, after, j = {}, {}, {}, 0
for t = 1, #per_transaction, 5 do
  j = j + 1
  held[j] = redis.call('ZSCORE', KEYS[2], per_transaction[t + 1]) or false
  if ctx.held[per_transaction[t + 1]] == nil then
    ctx.held[per_transaction[t + 1]] = held[j] ~= false
  end
end
j = 0
for t = 1, #per_transaction, 5 do
  j = j + 1
  local k = 1 + 4 * tonumber(per_transaction[t])
  added[j] = observe(ctx, KEYS[2], KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
    per_transaction[t + 1], per_transaction[t + 2], per_transaction[t + 3],
    per_transaction[t + 4], horizon)
end
finish(ctx, KEYS[1])
for i = 1, count do after[i] = tonumber(redis.call('GET', KEYS[4 + 4 * i]) or '0') end
out[4], out[5], out[6], out[7] = held, added, after, redis.call('ZCARD', KEYS[2])
return out
"""
)
_SEPARATOR = "\x1f"


# a warm start in progress holds this for at most this long (a killed loader's lock expires)
WARM_LOCK_S = 600
# transactions per script call of a warm start (the server serves nothing else meanwhile)
WARM_CHUNK = 500
_NO_DESTINATION = "\x00"  # Spark groups null destinations together: so does the state


# connections one event loop of a replica opens to the store at most (more requests wait)
MAX_CONNECTIONS = 16


def async_client_of(url: str, timeout_s: float) -> Any:
    """A ``redis.asyncio`` client of ``url`` with at most ``MAX_CONNECTIONS`` connections: a
    burst of requests waits for one (up to ``timeout_s``, then a ``ConnectionError``) rather
    than opening a connection each."""
    import redis.asyncio

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return redis.asyncio.Redis(connection_pool=pool)


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
        async_client: Makes a ``redis.asyncio.Redis`` client of the same server, for
            ``abatch`` (one per event loop; best with a bounded pool, ``async_client_of``);
            without it, ``abatch`` waits on a worker thread.

    Attributes:
        cache_hits: Accounts a request's read found unchanged in this replica's cache.
    """

    unavailable = (redis.ConnectionError, redis.TimeoutError)

    def __init__(
        self,
        client: Any,
        prefix: str,
        windows: Mapping[str, int],
        *,
        max_lateness_s: int = DEFAULT_MAX_LATENESS_S,
        cache_accounts: int = DEFAULT_CACHE_ACCOUNTS,
        async_client: Callable[[], Any] | None = None,
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
        self._request_script = client.register_script(REQUEST)
        self._async_factory = async_client
        # event loop -> its client and script (a loop's connections serve that loop alone)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._held: int | None = None
        # account -> (its version, its state as of that version); lent to one request at a
        # time (``_request`` takes it out, ``_remember`` puts the request's copy back)
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
        self._held = None
        return bool(self._send([(ts_us, transaction_id, source, destination, cents)])[0])

    def _send(self, rows: Sequence[tuple]) -> list[int]:
        """The observation script for ``rows`` (time µs, id, source, destination, cents), in
        order, in one call; per row 1 when added."""
        keys = [self._key("wm"), self._key("ids"), self._key("clock")]
        args: list[Any] = []
        for ts_us, transaction_id, source, destination, cents in rows:
            keys.extend(self._account_keys(source))
            args.extend((transaction_id, ts_us, cents, _field(destination)))
        args.append(self._horizon_us)
        return self._observe_script(keys=keys, args=args)

    def sweep(self) -> None:
        """Nothing to do: each account is swept on the server when it is observed."""

    @contextmanager
    def batch(self, records: Sequence[PaymentTransaction]) -> Iterator[VelocityState]:
        """One request's state, in one round trip: the records are observed on the server at
        once, atomically, and the view is the state just before them (the watermark, which
        of their ids were held, their source accounts with the first-paid times of their
        destinations; an account this replica holds at the current version comes from its
        cache). The caller computes each record's features on the view and then observes it
        there, in order, as the service does: the view then ends as the server's state of
        those accounts, and the replica keeps it for its next request.

        Requests are serial on the server, so every replica's features are those of one
        process that saw the requests in the server's order.
        """
        request = self._request(records)
        reply = self._request_script(keys=request.keys, args=request.args)
        with self._served(request, reply) as view:
            yield view

    @asynccontextmanager
    async def abatch(self, records: Sequence[PaymentTransaction]) -> AsyncIterator[VelocityState]:
        """``batch`` for an event loop: the round trip awaits the server (with the async
        client when the state has one, else on a worker thread); the rest is the same."""
        request = self._request(records)
        if self._async_factory is None:
            reply = await asyncio.to_thread(
                self._request_script, keys=request.keys, args=request.args
            )
        else:
            client, script = self._async_client()
            reply = await script(keys=request.keys, args=request.args, client=client)
        with self._served(request, reply) as view:
            yield view

    def _async_client(self) -> tuple[Any, Any]:
        """The running event loop's async client and its request script (made the first time
        the loop asks; dropped with the loop)."""
        loop = asyncio.get_running_loop()
        with self._cache_lock:
            held = self._async.get(loop)
            if held is None:
                client = self._async_factory()  # type: ignore[misc]
                held = self._async[loop] = (client, client.register_script(REQUEST))
            return held

    def _request(self, records: Sequence[PaymentTransaction]) -> _Request:
        """The request script's keys and arguments for ``records``, with the cached versions
        this replica would take."""
        records = list(records)
        destinations: dict[str, list[str | None]] = {}
        for record in records:
            payees = destinations.setdefault(record.source_account_id, [])
            if record.destination_account_id not in payees:
                payees.append(record.destination_account_id)
        with self._cache_lock:
            # lent to this request alone: another one in flight reads those accounts whole, so
            # no two requests ever change one copy
            cached = {s: self._cache.pop(s, None) for s in destinations}
            token = self._cache_token
        keys = [self._key("wm"), self._key("ids"), self._key("clock"), self._key("fed")]
        per_account: list[str] = []
        position = {}
        for index, (source, payees) in enumerate(destinations.items(), start=1):
            keys.extend(self._account_keys(source))
            hit = cached.get(source)
            per_account.extend((str(-1 if hit is None else hit[0]), str(len(payees))))
            per_account.extend(map(_field, payees))
            position[source] = index
        per_transaction = [
            f"{position[r.source_account_id]}{_SEPARATOR}{r.transaction_id}{_SEPARATOR}"
            f"{r.ts_us}{_SEPARATOR}{cents_of(r.amount)}{_SEPARATOR}"
            f"{_field(r.destination_account_id)}"
            for r in records
        ]
        packed = _SEPARATOR.join(per_account), _SEPARATOR.join(per_transaction)
        fields = len(per_account) + 5 * len(records)
        if sum(text.count(_SEPARATOR) + 1 for text in packed if text) != fields:
            raise ValueError("an id holds the unit separator (\\x1f), which Silver strips")
        args = [token or b"", self._horizon_us, *packed]
        return _Request(records, destinations, cached, keys, args)

    @contextmanager
    def _served(self, request: _Request, reply: list) -> Iterator[VelocityState]:
        """The request's view from the script's reply; afterwards, the replica keeps the
        accounts as the view left them when the caller observed exactly the request's
        records, in order, with the server's outcomes (else none: the copies were lent)."""
        watermark, fed, accounts, held, added, after, self._held = reply
        view = _RequestView(self.windows, max_lateness_s=self.max_lateness_s)
        view.watermark_us = None if watermark is None else int(watermark)
        pairs = zip(request.records, held, strict=True)
        view._held_ids = {r.transaction_id for r, score in pairs if score is not None}
        for (source, payees), answer in zip(request.destinations.items(), accounts, strict=True):
            if len(answer) == 2:  # unchanged since this replica cached it: the copy lent
                self.cache_hits += 1
                account: _SourceAccount | None = request.cached[source][1]
            else:
                flat, aggregates = answer[2], answer[3]
                entries = list(zip(flat[0::2], map(float, flat[1::2]), strict=True))
                stored = dict(zip(aggregates[0::2], aggregates[1::2], strict=True))
                account = _account_state(entries, stored)
            if account is not None:
                for payee, first in zip(payees, answer[1], strict=True):
                    if first is not None:
                        account.first_to[payee] = int(first)
                view._accounts[source] = account
        observed: list[tuple[str, bool]] = []
        real_observe = view.observe

        def observe(txn) -> bool:
            record = as_transaction(txn)
            outcome = real_observe(record)
            observed.append((record.transaction_id, outcome))
            return outcome

        view.observe = observe  # type: ignore[method-assign]
        yield view  # (a caller failing half-way leaves nothing in the cache: it was lent)
        expected = [
            (r.transaction_id, bool(a)) for r, a in zip(request.records, added, strict=True)
        ]
        kept = observed == expected and fed is not None
        if self.cache_accounts:
            self._remember(view, fed, dict(zip(request.destinations, after, strict=True)), kept)

    def _adopt(self, fed: bytes | None) -> None:
        """The cache holds the state's life named ``fed`` from now on: another life's copies
        go (versions count from a state's birth). Called with the cache's lock held."""
        if self._cache_token != fed:
            self._cache.clear()
            self._cache_token = fed

    def _remember(
        self, view: VelocityState, fed: bytes, versions: dict[str, int], kept: bool
    ) -> None:
        """Keep the request's accounts at their versions after it (``kept``), unless a request
        handled meanwhile keeps a newer version."""
        if not kept:
            return
        with self._cache_lock:
            self._adopt(fed)
            for source, version in versions.items():
                account = view._accounts.get(source)
                held = self._cache.get(source)
                if account is None or (held is not None and held[0] > version):
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
            outcomes = self._send(rows[start : start + WARM_CHUNK])
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
class _Request:
    """A request's records, their source accounts (-> their destinations), the cached copies
    the replica offered, and the script's keys and arguments."""

    records: list[PaymentTransaction]
    destinations: dict[str, list[str | None]]
    cached: dict[str, tuple[int, _SourceAccount] | None]
    keys: list[str]
    args: list[Any]


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
