"""Per-reference Redis locks around credits: they cut contention, they do not guard correctness.

PostgreSQL does that (the payment row lock and UNIQUE(ledger_transactions.reference)), so:
- a lease that expires mid-credit only means two workers may both reach the row lock; one waits,
  then sees the payment credited and records a duplicate;
- Redis unreachable: we degrade to database-only locking for `retry_after` seconds (log
  `lock.degraded`, metric `payhooks_consumer_lock_degraded_total`) rather than stop crediting.
  Stopping would turn a Redis outage into a payments outage for no gain in correctness.
Locks are redis-py `Lock`s: a random owner token per holder, so only the owner releases.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
import structlog
from redis.lock import Lock

from consumer.adapters.metrics import METRICS
from schemas.names import credit_lock_key

log = structlog.get_logger("payhooks.consumer.lock")

_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


@dataclass
class Held:
    """What a `holding` block got: references it could not lock in time, and whether Redis was
    skipped (degraded to database-only locking)."""

    timed_out: set[str] = field(default_factory=set)
    degraded: bool = False


class CreditLocks:
    def __init__(
        self,
        client: redis.Redis[bytes],
        prefix: str,
        *,
        lease_seconds: float,
        wait_seconds: float,
        retry_after_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._lease = lease_seconds
        self._wait = wait_seconds
        self._retry_after = retry_after_seconds
        self._skip_until = 0.0
        self.degraded_count = 0

    def key(self, reference: str) -> str:
        return credit_lock_key(self._prefix, reference)

    @contextmanager
    def holding(self, references: Iterable[str]) -> Iterator[Held]:
        """Lock each reference (sorted, so two holders never wait on each other in a cycle);
        release every lock we own on the way out, whatever happened inside."""
        held = Held()
        locks: list[Lock] = []
        try:
            self._acquire_all(sorted(set(references)), held, locks)
            yield held
        finally:
            self._release_all(locks)

    def _acquire_all(self, references: list[str], held: Held, locks: list[Lock]) -> None:
        if time.monotonic() < self._skip_until:
            held.degraded = True
            return
        try:
            contended = self._acquire_free(references, locks)
            for reference in contended:  # sorted: holders never wait on each other in a cycle
                lock = self._lock(reference)
                if lock.acquire():
                    locks.append(lock)
                else:
                    held.timed_out.add(reference)
        except _UNREACHABLE as exc:
            self._degrade(exc)
            held.degraded = True

    def _lock(self, reference: str) -> Lock:
        return self._client.lock(
            self.key(reference), timeout=self._lease, blocking_timeout=self._wait
        )

    def _acquire_free(self, references: list[str], locks: list[Lock]) -> list[str]:
        """One round trip for the uncontended case: SET NX PX with a fresh owner token per
        lock (what redis-py's Lock.acquire does one by one); returns the references taken."""
        candidates = [self._lock(reference) for reference in references]
        tokens = [uuid.uuid4().hex.encode() for _ in candidates]
        pipe = self._client.pipeline(transaction=False)
        for lock, token in zip(candidates, tokens, strict=True):
            pipe.set(lock.name, token, nx=True, px=max(1, round(self._lease * 1000)))
        contended = []
        for reference, lock, token, ok in zip(
            references, candidates, tokens, pipe.execute(), strict=True
        ):
            if ok:
                lock.local.token = token  # so release() checks we still own it
                locks.append(lock)
            else:
                contended.append(reference)
        return contended

    def _degrade(self, error: BaseException) -> None:
        self._skip_until = time.monotonic() + self._retry_after
        self.degraded_count += 1
        METRICS.lock_degraded.inc()
        log.warning(
            "lock.degraded",
            error_class=type(error).__name__,
            error=str(error),
            retry_after_seconds=self._retry_after,
        )

    def _release_all(self, locks: list[Lock]) -> None:
        """Release in one round trip with redis-py's owner-checked script: a key whose token
        is no longer ours (lease ran out, someone else holds it now) is left alone."""
        if not locks:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for lock in locks:
                assert lock.lua_release is not None  # registered when the Lock is built
                lock.lua_release(keys=[lock.name], args=[lock.local.token], client=pipe)
            released = pipe.execute()
        except _UNREACHABLE as exc:
            log.warning("lock.release_failed", error=str(exc), count=len(locks))
            return
        for lock, ok in zip(locks, released, strict=True):
            if not ok:
                # The lease ran out mid-credit; PostgreSQL's row lock kept the credit single.
                log.warning("lock.lease_expired", key=lock.name)


def redis_client(url: str) -> redis.Redis[bytes]:
    """Short socket timeouts: an unreachable Redis must cost milliseconds, not the lease."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0)


class NoLocks:
    """`PAYHOOKS_CONSUMER_REDIS_LOCK=false`: no Redis at all, PostgreSQL's row locks alone keep
    credits single (they always do). A benchmark and ops knob, e.g. to measure the lock's cost."""

    @contextmanager
    def holding(self, references: Iterable[str]) -> Iterator[Held]:
        yield Held()
