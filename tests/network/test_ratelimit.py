"""Per-peer token buckets."""

from __future__ import annotations

import threading
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoinet.network import ratelimit
from hanoinet.network.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_burst_then_refusal(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=1.0, burst=5)
    assert [limiter.allow("FRA") for _ in range(7)] == [True] * 5 + [False] * 2


def test_refill_over_time(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert all(limiter.allow("FRA") for _ in range(3))
    assert not limiter.allow("FRA")
    clock.advance(0.4)  # 0.8 token
    assert not limiter.allow("FRA")
    clock.advance(0.1)  # 1.0 token
    assert limiter.allow("FRA")
    assert not limiter.allow("FRA")
    clock.advance(1.0)  # 2 tokens
    assert limiter.allow("FRA")
    assert limiter.allow("FRA")
    assert not limiter.allow("FRA")


def test_refill_is_capped_at_burst(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=100.0, burst=4)
    limiter.allow("FRA")
    clock.advance(3600)
    assert [limiter.allow("FRA") for _ in range(6)] == [True] * 4 + [False] * 2


def test_refused_requests_do_not_delay_the_refill(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("FRA")
    for _ in range(10):
        clock.advance(0.09)
        assert not limiter.allow("FRA")
    clock.advance(0.1)  # 1.0 s since the last token was taken
    assert limiter.allow("FRA")


def test_buckets_are_per_key(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.allow("FRA") and limiter.allow("FRA")
    assert not limiter.allow("FRA")
    assert limiter.allow("VNM") and limiter.allow("VNM")
    assert not limiter.allow("VNM")


def test_memory_is_bounded(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(25):
        assert limiter.allow(f"peer-{i}")
        assert len(limiter._buckets) <= 10


def test_forgetting_buckets_only_lets_more_through(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=2)
    assert limiter.allow("A")
    assert not limiter.allow("A")
    assert limiter.allow("B")
    assert limiter.allow("C")  # the table was full: A, the least recent, is forgotten
    assert limiter.allow("A")  # A starts afresh


def test_fractional_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=0.1, burst=1)
    assert limiter.allow("x")
    clock.advance(9.9)
    assert not limiter.allow("x")
    clock.advance(0.1)
    assert limiter.allow("x")


@settings(max_examples=100, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=50),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(st.floats(min_value=0, max_value=2, allow_nan=False), max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: int, burst: int, steps: list[float]) -> None:
    fake = FakeClock()
    original = ratelimit.time
    ratelimit.time = types.SimpleNamespace(monotonic=fake.monotonic)  # type: ignore[assignment]
    try:
        limiter = RateLimiter(rate=float(rate), burst=burst)
        allowed = sum(limiter.allow("peer") for _ in range(burst))
        assert allowed == burst  # a fresh bucket is full
        elapsed = 0.0
        for step in steps:
            fake.advance(step)
            elapsed += step
            allowed += limiter.allow("peer")
            assert allowed <= burst + rate * elapsed + 1e-6
    finally:
        ratelimit.time = original  # type: ignore[assignment]


def test_thread_safety() -> None:
    # Real clock, many threads, no refill to speak of: exactly `burst` requests get through.
    limiter = RateLimiter(rate=0.0001, burst=200)
    results: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [limiter.allow("peer") for _ in range(100)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 200


def test_a_full_table_forgets_the_least_recent_key_not_every_key(clock: FakeClock) -> None:
    limiter = RateLimiter(rate=0.0, burst=1, max_keys=3)
    assert limiter.allow("attacker")
    assert not limiter.allow("attacker")
    for other in ("a", "b"):
        limiter.allow(other)
    limiter.allow("attacker")  # refused, and now the most recent
    limiter.allow("c")  # evicts "a", the least recent
    assert not limiter.allow("attacker"), "filling the table must not refill the attacker's bucket"
    assert limiter.allow("a"), "an evicted key starts again with a full bucket"


@pytest.mark.parametrize(("host", "key"), [
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("203.0.113.9", "203.0.113.9"),
    ("testclient", "testclient"),
])
def test_ipv6_clients_are_limited_by_their_64(host: str, key: str) -> None:
    assert ratelimit.client_key(host) == key
