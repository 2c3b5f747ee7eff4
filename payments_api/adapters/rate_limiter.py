"""The per-client rate limit: a token bucket kept in Redis so every api replica shares it.

If Redis does not answer, each process falls back to its own bucket per client (the same limit,
so N replicas then allow up to N times the rate) and says so once in the log
(`api.rate_limit.degraded`) and in a metric; it goes back to Redis as soon as Redis answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from payments_api.domain.rate_limit import Bucket, Decision, Limit, retry_after
from schemas.names import rate_limit_key

log = structlog.get_logger("payhooks.api.rate_limit")

# KEYS[1]: the bucket; ARGV: rate (tokens/s), burst. Redis' own clock, so replicas agree.
# Returns {allowed (0/1), wait in ms}.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
"""
_REDIS_TIMEOUT_SECONDS = 0.25


class RateLimiter:
    def __init__(
        self,
        redis_url: str,
        prefix: str,
        limit: Limit,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_degraded: Callable[[], None] = lambda: None,
    ) -> None:
        self._redis = redis.Redis.from_url(
            redis_url,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        self._script = self._redis.register_script(_BUCKET_SCRIPT)
        self._prefix = prefix
        self._limit = limit
        self._clock = clock
        self._local: dict[str, Bucket] = {}
        self._degraded = False
        self._on_degraded = on_degraded

    async def check(self, client: str) -> Decision:
        try:
            allowed, wait_ms = await self._script(
                keys=[rate_limit_key(self._prefix, client)],
                args=[self._limit.rate, self._limit.burst],
            )
        except RedisError as exc:
            return self._check_locally(client, exc)
        if self._degraded:
            self._degraded = False
            log.info("api.rate_limit.restored")
        return Decision(bool(allowed), 0 if allowed else retry_after(wait_ms / 1000), shared=True)

    def _check_locally(self, client: str, error: RedisError) -> Decision:
        if not self._degraded:
            self._degraded = True
            log.warning("api.rate_limit.degraded", error_class=type(error).__name__)
        self._on_degraded()
        now = self._clock()
        bucket = self._local.setdefault(client, Bucket(float(self._limit.burst), now))
        wait = bucket.take(self._limit, now)
        return Decision(wait == 0, 0 if wait == 0 else retry_after(wait), shared=False)

    async def aclose(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
