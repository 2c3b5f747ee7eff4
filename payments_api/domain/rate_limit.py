"""Per-client token bucket: `rate` tokens per second refill a bucket of `burst`; a request takes
one token or waits. Pure maths, used as is by the per-process fallback; the Redis script in
`adapters/rate_limiter.py` is the same rule run inside Redis so replicas share one bucket."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens per second
    burst: int  # bucket size


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_seconds: int  # 0 when allowed; whole seconds for the Retry-After header
    shared: bool  # True when the shared (Redis) bucket decided


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated_at: float

    def take(self, limit: Limit, now: float) -> float:
        """Take a token; 0 if one was there, else the seconds until one will be."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(limit.burst), self.tokens + elapsed * limit.rate)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / limit.rate


def retry_after(wait_seconds: float) -> int:
    """Retry-After is whole seconds, at least 1 when a request was refused."""
    return max(1, math.ceil(wait_seconds))
