"""Settle credit items: Redis locks around one batch transaction, a one-by-one fallback when the
batch transaction fails, and short in-process retries (tenacity) for dependency hiccups
(`retry_in_process`).

What is still failing transiently after the in-process attempts is returned with its error; the
caller hands it to a retry topic. A poison event never blocks its neighbours: when the batch
transaction fails as a whole, each event gets its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import structlog
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from consumer.domain.errors import ConsumerError, LockTimeout
from consumer.domain.failures import retry_in_process
from consumer.service_layer.credit import CreditItem, CreditOutcome, credit_batch
from consumer.service_layer.ports import Locks, Reservation, UnitOfWork

log = structlog.get_logger("payhooks.consumer")


class _Unsettled(Exception):
    """Some events are still failing transiently."""


@dataclass
class Settler:
    new_uow: Callable[[], UnitOfWork]
    locks: Locks
    attempts: int = 3
    wait_max_seconds: float = 0.5

    def reserve(self, items: Sequence[CreditItem]) -> Reservation:
        """The items' locks taken ahead (`Locks.reserve`): while the batch before settles, so
        the settle's own lock round trip is usually none. Settle the items with it, or
        `release` it."""
        return self.locks.reserve(_lock_references(items))

    def release(self, reserved: Reservation) -> None:
        self.locks.release(reserved)

    def settle(
        self, items: Sequence[CreditItem], reserved: Reservation | None = None
    ) -> list[CreditOutcome]:
        """One outcome per item, in order. `reserved`'s locks are adopted by the first round
        (and given back whatever happens)."""
        try:
            return self._settle(items, reserved)
        finally:
            if reserved is not None:
                self.locks.release(reserved)  # nothing left if a round adopted it

    def _settle(
        self, items: Sequence[CreditItem], reserved: Reservation | None
    ) -> list[CreditOutcome]:
        results: dict[int, CreditOutcome] = {}
        pending = list(range(len(items)))
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(
                multiplier=self.wait_max_seconds / 4, max=self.wait_max_seconds
            ),
            retry=retry_if_exception_type(_Unsettled),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    round_results = self._round([items[i] for i in pending], reserved)
                    results.update(zip(pending, round_results, strict=True))
                    pending = [i for i in pending if _retry_now(results[i])]
                    if pending:
                        raise _Unsettled
        except _Unsettled:
            pass  # the remaining transient failures go to a retry topic
        return [results[i] for i in range(len(items))]

    def _round(self, items: list[CreditItem], reserved: Reservation | None) -> list[CreditOutcome]:
        with self.locks.holding(_lock_references(items), reserved) as held:
            lockable = [i for i in items if i.event.reference not in held.timed_out]
            settled = iter(self._credit(lockable))
            return [
                next(settled)
                if item.event.reference not in held.timed_out
                else _failed(item, LockTimeout(f"reference {item.event.reference!r} is locked"))
                for item in items
            ]

    def _credit(self, items: list[CreditItem]) -> list[CreditOutcome]:
        if not items:
            return []
        if len(items) == 1:  # a record on its own: what it causes is logged with its context
            event = items[0].event
            with structlog.contextvars.bound_contextvars(
                event_id=event.event_id, reference=event.reference
            ):
                try:
                    return credit_batch(self.new_uow(), items)
                except Exception as exc:  # noqa: BLE001 - its outcome carries the error on
                    return [_failed(items[0], exc)]
        try:
            return credit_batch(self.new_uow(), items)
        except Exception as exc:  # noqa: BLE001 - isolated below, never swallowed
            log.warning(
                "credit.batch_fallback",
                size=len(items),
                error_class=type(exc).__name__,
                error=str(exc),
            )
            return [outcome for item in items for outcome in self._credit([item])]


def _lock_references(items: Sequence[CreditItem]) -> Iterator[str]:
    """What a batch locks: the references of its successful payments (the credits)."""
    return (i.event.reference for i in items if i.event.is_successful_payment)


def _failed(item: CreditItem, error: BaseException) -> CreditOutcome:
    wrapped = error if isinstance(error, ConsumerError) else _unexpected(error)
    return CreditOutcome(None, item.event, str(wrapped), wrapped)


def _unexpected(error: BaseException) -> ConsumerError:
    wrapped = ConsumerError(f"{type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


def _retry_now(outcome: CreditOutcome) -> bool:
    return outcome.error is not None and retry_in_process(outcome.error)
