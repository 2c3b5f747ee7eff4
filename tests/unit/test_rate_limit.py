"""The per-client token bucket (pure maths, the per-process fallback) and the fallback itself
when Redis does not answer."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from payhooks_devtools.localnet import free_port
from payments_api.adapters.rate_limiter import RateLimiter
from payments_api.domain.rate_limit import Bucket, Limit, retry_after


def test_a_full_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    limit = Limit(rate=2.0, burst=3)
    bucket = Bucket(tokens=3.0, updated_at=0.0)
    waits = [bucket.take(limit, now=0.0) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == 0.5  # one token refills in 1/rate seconds
    assert bucket.take(limit, now=0.5) == 0.0


def test_refill_never_exceeds_the_burst() -> None:
    limit = Limit(rate=100.0, burst=2)
    bucket = Bucket(tokens=0.0, updated_at=0.0)
    bucket.take(limit, now=3600.0)
    assert bucket.tokens == 1.0


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=100),
    gaps=st.lists(st.floats(min_value=0, max_value=10), max_size=60),
)
def test_allowed_requests_never_exceed_burst_plus_refill(
    rate: float, burst: int, gaps: list[float]
) -> None:
    limit = Limit(rate, burst)
    bucket = Bucket(float(burst), 0.0)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.take(limit, now) == 0.0
    assert allowed <= burst + now * rate + 1e-6


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert [retry_after(w) for w in (0.0, 0.01, 1.0, 1.2)] == [1, 1, 1, 2]


def test_redis_down_falls_back_to_a_per_process_bucket() -> None:
    # Given Redis does not answer at all (nothing listens on that port)
    limiter = RateLimiter(
        f"redis://127.0.0.1:{free_port()}/0", "test", Limit(rate=0.001, burst=2), clock=lambda: 0.0
    )

    async def three() -> list[bool]:
        try:
            return [(await limiter.check("shop")).allowed for _ in range(3)]
        finally:
            await limiter.aclose()

    # Then the same limit still holds, per process, and the decisions say they were local
    assert asyncio.run(three()) == [True, True, False]
