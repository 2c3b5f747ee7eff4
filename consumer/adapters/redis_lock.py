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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
import structlog
from redis.exceptions import LockError, LockNotOwnedError
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
            for lock in reversed(locks):
                self._release(lock)

    def _acquire_all(self, references: list[str], held: Held, locks: list[Lock]) -> None:
        if time.monotonic() < self._skip_until:
            held.degraded = True
            return
        for reference in references:
            lock = self._client.lock(
                self.key(reference), timeout=self._lease, blocking_timeout=self._wait
            )
            try:
                acquired = lock.acquire()
            except _UNREACHABLE as exc:
                self._degrade(exc)
                held.degraded = True
                return
            if acquired:
                locks.append(lock)
            else:
                held.timed_out.add(reference)

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

    def _release(self, lock: Lock) -> None:
        try:
            lock.release()
        except LockNotOwnedError:
            # The lease ran out mid-credit; PostgreSQL's row lock kept the credit single.
            log.warning("lock.lease_expired", key=lock.name)
        except (LockError, *_UNREACHABLE) as exc:
            log.warning("lock.release_failed", key=lock.name, error=str(exc))


def redis_client(url: str) -> redis.Redis[bytes]:
    """Short socket timeouts: an unreachable Redis must cost milliseconds, not the lease."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0)
