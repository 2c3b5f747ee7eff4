"""Per-reference Redis locks around credits: they cut contention, they do not guard correctness.

PostgreSQL does that (the payment row lock and UNIQUE(ledger_transactions.reference)), so:
- a lease that expires mid-credit only means two workers may both reach the row lock; one waits,
  then sees the payment credited and records a duplicate;
- Redis unreachable: we degrade to database-only locking for `retry_after` seconds (log
  `lock.degraded`, metric `payhooks_consumer_lock_degraded_total`) rather than stop crediting.
  Stopping would turn a Redis outage into a payments outage for no gain in correctness.
A holder's locks carry its random owner token, so only the owner releases: every free key is
taken (SET NX PX) and released (owner-checked DEL) by one script call per batch, and a key
someone else holds is waited for with a redis-py `Lock`. The take can run ahead of the settle
(`reserve`, on the polling thread while the batch before settles): what is busy then is taken
by the settle's `holding`, as it would have been without a reservation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
import structlog
from redis.exceptions import LockError
from redis.lock import Lock

from consumer.adapters.metrics import METRICS
from consumer.service_layer.ports import Held, Reservation
from schemas.names import credit_lock_key

log = structlog.get_logger("payhooks.consumer.lock")

_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


# SET NX PX on every key with one owner token; returns the (1-based) places of the keys someone
# else holds: usually none, so the reply is an empty array, not one flag per key to parse.
_ACQUIRE = """
local busy = {}
for i, key in ipairs(KEYS) do
  if not redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    busy[#busy + 1] = i
  end
end
return busy
"""
# DEL every key that still holds our token (redis-py's Lock.release check, for many keys): MGET
# reads the keys and DEL removes ours, each per slice of up to 1,000 keys (unpack's stack bound),
# instead of a GET and a DEL per key: each redis.call has a fixed cost, so a batch of 1,000 costs
# 2 calls instead of 2,000. Atomic like any script: nothing changes between the read and the
# DEL. Returns the places of the keys whose token is no longer ours (lease ran out): usually none.
_RELEASE = """
local ours, lost = {}, {}
for first = 1, #KEYS, 1000 do
  local values = redis.call('MGET', unpack(KEYS, first, math.min(first + 999, #KEYS)))
  for j, value in ipairs(values) do
    if value == ARGV[1] then
      ours[#ours + 1] = KEYS[first + j - 1]
    else
      lost[#lost + 1] = first + j - 1
    end
  end
end
for first = 1, #ours, 1000 do
  redis.call('DEL', unpack(ours, first, math.min(first + 999, #ours)))
end
return lost
"""


@dataclass
class _Taken:
    """The locks one `holding` block owns: keys taken with its token, and locks waited for."""

    token: str
    keys: list[str] = field(default_factory=list)
    waited: list[Lock] = field(default_factory=list)
    references: set[str] = field(default_factory=set)  # of `keys`


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
        self._acquire_script = client.register_script(_ACQUIRE)
        self._release_script = client.register_script(_RELEASE)

    def key(self, reference: str) -> str:
        return credit_lock_key(self._prefix, reference)

    @contextmanager
    def holding(
        self, references: Iterable[str], reserved: Reservation | None = None
    ) -> Iterator[Held]:
        """Lock each reference (sorted, so two holders never wait on each other in a cycle),
        adopting what `reserved` took already; release every lock we own on the way out,
        whatever happened inside."""
        held = Held()
        taken = self._adopt(reserved) if reserved is not None else _Taken(uuid.uuid4().hex)
        try:
            self._acquire_all(sorted(set(references) - taken.references), held, taken)
            yield held
        finally:
            self._release_all(taken)

    def reserve(self, references: Iterable[str]) -> Reservation:
        """One script call taking every free key now, with a fresh owner token; a busy one is
        left for `holding` (never waited for here). Redis unreachable: nothing is taken, and the
        degraded mode starts as in `holding`."""
        taken = _Taken(uuid.uuid4().hex)
        if time.monotonic() >= self._skip_until:
            try:
                self._acquire_free(sorted(set(references)), taken)
            except _UNREACHABLE as exc:
                self._degrade(exc)
        return Reservation(taken.references, taken.token)

    def release(self, reserved: Reservation) -> None:
        """Give back a reservation no `holding` block adopted (its batch was dropped)."""
        self._release_all(self._adopt(reserved))

    def _adopt(self, reserved: Reservation) -> _Taken:
        """The reservation's locks, now the caller's: the reservation is left empty."""
        head = credit_lock_key(self._prefix, "")
        taken = _Taken(reserved.token or uuid.uuid4().hex, references=reserved.references)
        taken.keys = [head + reference for reference in sorted(taken.references)]
        reserved.references = set()
        return taken

    def _acquire_all(self, references: list[str], held: Held, taken: _Taken) -> None:
        if time.monotonic() < self._skip_until:
            held.degraded = True
            return
        try:
            contended = self._acquire_free(references, taken)
            for reference in contended:  # sorted: holders never wait on each other in a cycle
                lock = self._client.lock(
                    self.key(reference), timeout=self._lease, blocking_timeout=self._wait
                )
                if lock.acquire():
                    taken.waited.append(lock)
                else:
                    held.timed_out.add(reference)
        except _UNREACHABLE as exc:
            self._degrade(exc)
            held.degraded = True

    def _acquire_free(self, references: list[str], taken: _Taken) -> list[str]:
        """One round trip for the uncontended case: a script doing SET NX PX on every key
        with the holder's owner token; returns the references someone else holds."""
        if not references:
            return []
        head = credit_lock_key(self._prefix, "")
        keys = [head + reference for reference in references]
        lease_ms = max(1, round(self._lease * 1000))
        busy = {int(i) - 1 for i in self._acquire_script(keys=keys, args=[taken.token, lease_ms])}
        if not busy:
            taken.keys += keys
            taken.references.update(references)
            return []
        taken.keys += [key for i, key in enumerate(keys) if i not in busy]
        taken.references.update(r for i, r in enumerate(references) if i not in busy)
        return [references[i] for i in sorted(busy)]

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

    def _release_all(self, taken: _Taken) -> None:
        """Release in one round trip, owner-checked: a key whose token is no longer ours
        (lease ran out, someone else holds it now) is left alone."""
        if not taken.keys and not taken.waited:
            return
        try:
            lost = [taken.keys[int(i) - 1] for i in self._release_keys(taken)]
            lost += [str(lock.name) for lock in taken.waited if not _release(lock)]
        except _UNREACHABLE as exc:
            log.warning("lock.release_failed", error=str(exc), count=len(taken.keys))
            return
        for key in lost:
            # The lease ran out mid-credit; PostgreSQL's row lock kept the credit single.
            log.warning("lock.lease_expired", key=key)

    def _release_keys(self, taken: _Taken) -> list[int]:
        """The script's reply: the 1-based places of the keys it did not release."""
        if not taken.keys:
            return []
        return list(self._release_script(keys=taken.keys, args=[taken.token]))


def _release(lock: Lock) -> int:
    """Release a lock we waited for; 0 when its lease ran out (it is someone else's now)."""
    try:
        lock.release()
    except LockError:
        return 0
    return 1


def redis_client(url: str) -> redis.Redis[bytes]:
    """Short socket timeouts: an unreachable Redis must cost milliseconds, not the lease."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0)


class NoLocks:
    """`PAYHOOKS_CONSUMER_REDIS_LOCK=false`: no Redis at all, PostgreSQL's row locks alone keep
    credits single (they always do). A benchmark and ops knob, e.g. to measure the lock's cost."""

    @contextmanager
    def holding(
        self, references: Iterable[str], reserved: Reservation | None = None
    ) -> Iterator[Held]:
        yield Held()

    def reserve(self, references: Iterable[str]) -> Reservation:
        return Reservation()

    def release(self, reserved: Reservation) -> None:
        return None
