"""The velocity state in Redis (``lakehouse.features.velocity_store``), shared by replicas:
its features equal the in-process state's (proven equal to Spark in test_payments_online.py),
bit for bit, through late arrivals, duplicates, same-instant ties, evictions into the running
aggregates, two replicas taking turns and a restart; and the warm start happens once."""

from __future__ import annotations

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


@pytest.mark.parametrize("batch", [1, 37])
@pytest.mark.parametrize("windows, lateness_s", [(WINDOWS, 3600), ({"1h": 3600}, 0)])
def test_two_replicas_sharing_redis_see_what_one_process_sees(
    redis_server, windows, lateness_s, batch
):
    """Requests of ``batch`` records go to the two replicas in turn; each request's records
    get their features and are observed one after the other, as the service does."""
    prefix = f"test:{uuid.uuid4().hex}"
    replicas = [shared(redis_server, prefix, windows, lateness_s) for _ in range(2)]
    local = VelocityState(windows, max_lateness_s=lateness_s)
    records = stream(600, seed=11)
    for turn, start in enumerate(range(0, len(records), batch)):
        chunk = records[start : start + batch]
        with replicas[turn % 2].batch(chunk) as state:  # round robin
            for record in chunk:
                expected = local.features(record)
                assert state.features(record) == expected, (turn, record.transaction_id)
                assert state.observe(record) == local.observe(record)
    # (a replica's count is as of its own last request: ask a new connection)
    assert (
        shared(redis_server, prefix, windows, lateness_s).held_transactions
        == local.held_transactions
    )
    # short windows evicted most of it into the running aggregates: still exact
    assert lateness_s or local.held_transactions < len(records) // 10
    # each account's state, running aggregates included, bit for bit (the features round
    # the mean and z-score, so they could hide a difference in the last bits)
    fields = ("ts", "ids", "cents", "evicted", "cum_cents", "cum_sum", "cum_n", "cum_avg", "cum_m2")
    for account, held in local._accounts.items():
        stored = replicas[1]._account(account, None)
        assert [getattr(stored, f) for f in fields] == [getattr(held, f) for f in fields], account
    # a restarted replica (a new connection) has lost nothing
    restarted = shared(redis_server, prefix, windows, lateness_s)
    for account in ("S0", "S1", "S2", "S3", "S9"):
        probe = request("probe", T0 + timedelta(days=11), account, "P2", "42.00")
        assert restarted.features(probe) == local.features(probe)


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
