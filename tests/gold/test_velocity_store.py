"""The velocity state in Redis (``lakehouse.features.velocity_store``), shared by replicas:
its features equal the in-process state's (proven equal to Spark in test_payments_online.py),
bit for bit, through late arrivals, duplicates, same-instant ties, evictions into the running
aggregates, two replicas taking turns and a restart; and the warm start happens once."""

from __future__ import annotations

import dataclasses
import random
import threading
import uuid
from datetime import timedelta

import pandas as pd
import pytest

from lakehouse.features.velocity_store import RedisVelocityState, state_prefix
from lakehouse.gold.payments_online import VelocityState
from lakehouse.silver.payments_online import parse_transaction
from tests.support.payments_twins import T0, WINDOWS, request


def shared(redis_server, prefix: str, windows=WINDOWS, lateness_s: int = 3600):
    """A replica's view of the shared state: its own connection, the common prefix."""
    return RedisVelocityState(redis_server.client(), prefix, windows, max_lateness_s=lateness_s)


def stream(n: int, seed: int) -> list[dict]:
    """Payments from few accounts to few payees over ten days, arriving up to 50 minutes
    late, with ids repeated (a retry) and several on one instant (ties broken by id)."""
    rng = random.Random(seed)
    out = []  # (when it arrives, the request)
    for i in range(n):
        ts = T0 + timedelta(minutes=20 * i + rng.choice([0, 0, 7]))
        arrives = ts + timedelta(minutes=rng.randrange(50))
        payee = None if rng.random() < 0.05 else f"P{rng.randrange(6)}"
        amount = f"{rng.randrange(1, 999_999) / 100:.2f}"
        source = f"S{rng.randrange(4)}"
        out.append((arrives, request(f"t{i:05d}-{rng.randrange(3)}", ts, source, payee, amount)))
        if rng.random() < 0.03:  # the same id again, a little later: counted once
            out.append((arrives + timedelta(minutes=1), dict(out[-1][1])))
        if rng.random() < 0.05:  # the same instant, an id that sorts before it
            out.append((arrives, request(f"t{i:05d}-", ts, source, "P1", "10.00")))
    arrival = [r for _, r in sorted(out, key=lambda pair: pair[0])]
    return [parse_transaction(r) for r in arrival]


FIELDS = ("ts", "ids", "cents", "evicted", "cum_cents", "cum_sum", "cum_n", "cum_avg", "cum_m2")


def fed(redis_server, prefix: str) -> None:
    """Mark the state fed (as a warm start would, with its token), without feeding it."""
    redis_server.client().set(f"{prefix}:fed", uuid.uuid4().hex)


def assert_cache_is_the_server_state(replica: RedisVelocityState) -> int:
    """Each account a replica keeps at the server's current version equals the server's,
    bit for bit (one kept at an older version is read whole next time). Returns how many."""
    current = 0
    for account, (version, held) in replica._cache.items():
        if int(replica.client.get(replica._account_keys(account)[3])) == version:
            stored = replica._account(account, None)
            assert [getattr(held, f) for f in FIELDS] == [getattr(stored, f) for f in FIELDS]
            current += 1
    return current


def take_turns(replicas, local: VelocityState, records: list, batch: int) -> None:
    """Requests of ``batch`` records go to the replicas in turn; each request's records get
    their features and are observed one after the other, as the service does; each feature
    equals the one process's."""
    for turn, start in enumerate(range(0, len(records), batch)):
        chunk = records[start : start + batch]
        with replicas[turn % len(replicas)].batch(chunk) as state:  # round robin
            for record in chunk:
                expected = local.features(record)
                assert state.features(record) == expected, (turn, record.transaction_id)
                assert state.observe(record) == local.observe(record)


@pytest.mark.parametrize("replica_count", [1, 2])
@pytest.mark.parametrize("batch", [1, 37])
@pytest.mark.parametrize("windows, lateness_s", [(WINDOWS, 3600), ({"1h": 3600}, 0)])
def test_replicas_sharing_redis_see_what_one_process_sees(
    redis_server, windows, lateness_s, batch, replica_count
):
    """One replica, or two taking requests in turn: the same features as one process, and
    what a replica keeps between requests is the server's state."""
    prefix = f"test:{uuid.uuid4().hex}"
    fed(redis_server, prefix)
    replicas = [shared(redis_server, prefix, windows, lateness_s) for _ in range(replica_count)]
    local = VelocityState(windows, max_lateness_s=lateness_s)
    records = stream(600, seed=11)
    take_turns(replicas, local, records, batch)
    last = replicas[(len(range(0, len(records), batch)) - 1) % replica_count]
    assert assert_cache_is_the_server_state(last) > 0  # (what its last request read is)
    for replica in replicas:
        assert_cache_is_the_server_state(replica)
    if replica_count == 1:  # alone, it reads each account whole once, then only versions
        chunks = [records[i : i + batch] for i in range(0, len(records), batch)]
        reads = sum(len({r.source_account_id for r in chunk}) for chunk in chunks)
        accounts = {r.source_account_id for r in records}
        assert replicas[0].cache_hits == reads - len(accounts)
    # (a replica's count is as of its own last request: ask a new connection)
    assert (
        shared(redis_server, prefix, windows, lateness_s).held_transactions
        == local.held_transactions
    )
    # short windows evicted most of it into the running aggregates: still exact
    assert lateness_s or local.held_transactions < len(records) // 10
    # each account's state, running aggregates included, bit for bit (the features round
    # the mean and z-score, so they could hide a difference in the last bits)
    for account, held in local._accounts.items():
        stored = replicas[-1]._account(account, None)
        assert [getattr(stored, f) for f in FIELDS] == [getattr(held, f) for f in FIELDS], account
    # a restarted replica (a new connection) has lost nothing
    restarted = shared(redis_server, prefix, windows, lateness_s)
    for account in ("S0", "S1", "S2", "S3", "S9"):
        probe = request("probe", T0 + timedelta(days=11), account, "P2", "42.00")
        assert restarted.features(probe) == local.features(probe)


def test_requests_are_serial_on_the_server(redis_server):
    """A request is observed on the server when it is read: B's request, landing while A
    computes A's features, sees A's transaction, and both get the features of one process
    that saw A's request and then B's. A's copy of the account B changed is then stale: A's
    next request reads it whole, and features still equal the one process's."""
    prefix = f"test:{uuid.uuid4().hex}"
    fed(redis_server, prefix)
    a, b = shared(redis_server, prefix), shared(redis_server, prefix)
    local = VelocityState(WINDOWS, max_lateness_s=3600)
    records = stream(200, seed=3)
    take_turns([a], local, records[:100], 10)
    # (the first 100 records end about 33 hours after T0)
    mine = parse_transaction(request("mine", T0 + timedelta(hours=34), "S1", "P1", "10.00"))
    theirs = [
        parse_transaction(request(*r))
        for r in (
            ("theirs", T0 + timedelta(hours=34, minutes=-5), "S1", "P2", "20.00"),
            ("later", T0 + timedelta(hours=34, minutes=10), "S2", "P2", "30.00"),
        )
    ]
    assert "S1" in a._cache
    with a.batch([mine]) as state:
        assert state.features(mine) == local.features(mine)
        assert local.observe(mine)
        take_turns([b], local, theirs, 2)  # B's request lands meanwhile, and sees A's
        assert state.observe(mine)
    kept, stored = a._cache["S1"][0], int(a.client.get(a._account_keys("S1")[3]))
    assert kept < stored  # (B changed S1 after A's request)
    hits = a.cache_hits
    take_turns([a], local, [next(r for r in records[100:] if r.source_account_id == "S1")], 1)
    assert a.cache_hits == hits  # read whole
    take_turns([a], local, records[100:], 10)
    assert assert_cache_is_the_server_state(a) == len(a._cache)


def test_two_requests_in_flight_never_share_a_copy(redis_server):
    """A retry (a held id: the account's version stays) and a new payment from the same
    account, both in flight on one replica, the retry first on the server: the cached copy is
    lent to one request only, the other reads the account whole, each gets one process's
    features, and the replica keeps the newer version."""
    prefix = f"test:{uuid.uuid4().hex}"
    fed(redis_server, prefix)
    a = shared(redis_server, prefix)
    local = VelocityState(WINDOWS, max_lateness_s=3600)
    first, retry = (
        parse_transaction(request(i, T0 + timedelta(seconds=s), "S1", "P1", "5.00"))
        for i, s in (("w", 0), ("x", 30))
    )
    take_turns([a], local, [first, retry], 1)
    assert "S1" in a._cache
    new = parse_transaction(request("n", T0 + timedelta(seconds=10), "S1", "P1", "9.00"))
    expected = {}
    for record in (retry, new):  # the server's order
        expected[record.transaction_id] = local.features(record)
        local.observe(record)
    with a.batch([retry]) as one:
        with a.batch([new]) as other:  # (two tasks on the loop, or two threads)
            assert other.features(new) == expected["n"]
            assert other.observe(new)
        assert one.features(retry) == expected["x"]
        assert not one.observe(retry)
    assert assert_cache_is_the_server_state(a) == len(a._cache) == 1


def test_a_request_not_observed_as_sent_is_not_kept(redis_server):
    """The server observes a request's records when it reads them; a caller that observes
    them otherwise in the view (fewer, or in another order) leaves a view that is not the
    server's state, so the replica keeps none of its accounts."""
    prefix = f"test:{uuid.uuid4().hex}"
    fed(redis_server, prefix)
    a = shared(redis_server, prefix)
    local = VelocityState(WINDOWS, max_lateness_s=3600)
    records = stream(60, seed=4)
    take_turns([a], local, records[:40], 8)
    first, second = (
        parse_transaction(request(f"x{i}", T0 + timedelta(days=1, minutes=i), "S2", "P1", "5.00"))
        for i in (1, 2)
    )
    assert "S2" in a._cache
    with a.batch([first, second]) as state:
        state.observe(second)
        state.observe(first)
    assert "S2" not in a._cache
    for record in (first, second):
        local.observe(record)
    take_turns([a], local, records[40:50], 8)  # read whole again, and right
    assert "S2" in a._cache
    # a request whose caller fails half-way: the server observed it whole, the view did not
    third = parse_transaction(request("x3", T0 + timedelta(days=2), "S2", "P1", "5.00"))
    with pytest.raises(ZeroDivisionError), a.batch([third]) as state:
        state.features(third)
        1 / 0  # noqa: B018
    assert "S2" not in a._cache
    local.observe(third)
    take_turns([a], local, records[50:], 8)
    assert assert_cache_is_the_server_state(a) == len(a._cache)
    # no field may hold the separator the request's arguments are packed with
    hostile = dataclasses.replace(third, transaction_id="x\x1f4")  # (parsing strips it)
    with pytest.raises(ValueError, match="unit separator"), a.batch([hostile]):
        pass


def test_a_wiped_state_fed_again_is_read_whole(redis_server):
    """Versions count from a state's birth: once the state is wiped and fed again, an
    account's version can come back with other contents, and a replica must not take its old
    copy for it."""
    prefix = f"test:{uuid.uuid4().hex}"
    client = redis_server.client()
    a, b = shared(redis_server, prefix), shared(redis_server, prefix)
    fed(redis_server, prefix)
    take_turns([a], VelocityState(WINDOWS, max_lateness_s=3600), stream(150, seed=7), 15)
    kept = a._cache["S1"][0]
    client.delete(*client.keys(f"{prefix}:*"))  # wiped, and fed again by another replica
    fed(redis_server, prefix)
    local = VelocityState(WINDOWS, max_lateness_s=3600)
    later = iter(stream(600, seed=8))
    # B's requests bring the new state's clock to just below the version A keeps for S1...
    while int(client.get(f"{prefix}:clock") or 0) < kept - 1:
        record = next(later)
        if record.source_account_id != "S1":
            take_turns([b], local, [record], 1)
    # ...and one payment from S1 gives S1 that very version, with other contents
    take_turns([b], local, [next(r for r in later if r.source_account_id == "S1")], 1)
    assert int(client.get(b._account_keys("S1")[3])) == kept
    hits = a.cache_hits
    take_turns([a], local, [next(r for r in later if r.source_account_id == "S1")], 1)
    assert a.cache_hits == hits  # read whole
    assert assert_cache_is_the_server_state(a) == len(a._cache) == 1


def test_the_warm_start_from_silver_happens_once(redis_server):
    prefix = state_prefix("test", f"lake-{uuid.uuid4().hex}", WINDOWS, 3600)
    records = stream(300, seed=5)
    silver = pd.DataFrame(
        {
            "transaction_id": [r.transaction_id for r in records],
            "transaction_ts": pd.to_datetime([r.transaction_ts for r in records], utc=True),
            "source_account_id": [r.source_account_id for r in records],
            "destination_account_id": [r.destination_account_id for r in records],
            "amount": [r.amount for r in records],
        }
    ).drop_duplicates("transaction_id")
    local = VelocityState(WINDOWS)
    local.warm_start(silver)
    replicas = [shared(redis_server, prefix) for _ in range(3)]
    added = [None] * 3
    threads = [
        threading.Thread(
            target=lambda i=i: added.__setitem__(i, replicas[i].feed_once(silver, 7, 60))
        )
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [0, 0, len(silver)]  # one replica fed it, the others waited
    assert {r.source_version for r in replicas} == {7}
    assert replicas[0].held_transactions == local.held_transactions
    probe = request("probe", T0 + timedelta(days=11), "S1", "P3", "12.34")
    assert replicas[1].features(probe) == local.features(probe)
    # a later start finds it fed and reads nothing
    assert shared(redis_server, prefix).feed_once(None, None, 1) == 0


def test_a_changed_configuration_gets_a_state_of_its_own():
    base = state_prefix("lakehouse:velocity", "s3a://b/lake", WINDOWS, 3600)
    assert base == state_prefix("lakehouse:velocity", "s3a://b/lake", dict(WINDOWS), 3600)
    assert base != state_prefix("lakehouse:velocity", "s3a://b/lake", WINDOWS, 60)
    assert base != state_prefix("lakehouse:velocity", "s3a://b/other", WINDOWS, 3600)
    assert base != state_prefix("lakehouse:velocity", "s3a://b/lake", {"1h": 3600}, 3600)


def test_a_request_paying_thousands_of_payees_from_one_account(redis_server):
    """One account paying 8,500 payees in one request (Lua's unpack takes some thousands of
    values at most, so their first-paid times are read in parts): one process's features."""
    prefix = f"test:{uuid.uuid4().hex}"
    fed(redis_server, prefix)
    a = shared(redis_server, prefix)
    local = VelocityState(WINDOWS, max_lateness_s=3600)
    warm = [
        parse_transaction(request(f"w{i}", T0 + timedelta(seconds=i), "S1", f"P{i}", "1.00"))
        for i in range(0, 8_500, 2)
    ]
    take_turns([a], local, warm, 1_000)
    records = [
        parse_transaction(
            request(f"t{i}", T0 + timedelta(hours=1, seconds=i), "S1", f"P{i}", "2.00")
        )
        for i in range(8_500)
    ]
    take_turns([a], local, records, len(records))
