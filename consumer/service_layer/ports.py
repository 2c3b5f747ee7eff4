"""The ports the consumer's service layer needs, as `typing.Protocol`s, and the values that cross
them. The concrete adapters (PostgreSQL ledger and unit of work, Redis locks) live in
`consumer.adapters`; tests/fakes.py holds in-memory fakes of the same ports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self


class PaymentKey(NamedTuple):
    """How an event names its payment: our reference, or the provider's own transaction id.
    (A named tuple: built and hashed several times per record, in C rather than a dataclass's
    generated `__init__`/`__hash__`.)"""

    reference: str = ""
    provider: str = ""
    txn_id: str = ""


class LockedPayment(NamedTuple):
    """A payment row as one unit of work locked it (`FOR UPDATE`): plain values, no ORM object
    (a named tuple, made from the row as it comes). The service layer reads it; what a batch
    changes is written through the `Ledger`."""

    id: int
    reference: str
    wallet_id: int
    amount: int
    currency: str
    state: str
    credited: bool
    refunded_amount: int
    provider: str
    provider_txn_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReversalRow:
    """One refund / lost dispute to write: the locked payment and the state it ends in."""

    payment: LockedPayment
    provider: str
    reversal_id: str
    kind: str
    amount: int
    event_id: str
    state_after: str


class EventRecord(NamedTuple):
    """One event's outcome for processed_events (a named tuple: one per record, built in C)."""

    event_id: str
    provider: str
    event_type: str
    reference: str
    outcome: str
    detail: str | None

    def as_row(self) -> dict[str, Any]:
        return self._asdict()


class ConsumedRow(NamedTuple):
    """One record's outcome for consumed_records, by its place in the main topic."""

    source_topic: str
    source_partition: int
    source_offset: int
    event_id: str
    reference: str
    outcome: str

    def as_row(self) -> dict[str, Any]:
        return self._asdict()


@dataclass
class Held:
    """What a `holding` block got: references it could not lock in time, and whether Redis was
    skipped (degraded to database-only locking)."""

    timed_out: set[str] = field(default_factory=set)
    degraded: bool = False


@dataclass
class Reservation:
    """Locks a batch took ahead of its settle (`Locks.reserve`), while the batch before it was
    still settling: the references taken, under one owner token. The batch's `holding` block
    adopts them (and takes the rest); `release` gives them back if the batch is dropped. Once
    adopted or released it is empty, so releasing it again does nothing."""

    references: set[str] = field(default_factory=set)
    token: str = ""


class Locks(Protocol):
    """Cuts contention on references across workers; correctness stays with PostgreSQL."""

    def holding(
        self, references: Iterable[str], reserved: Reservation | None = None
    ) -> AbstractContextManager[Held]: ...

    def reserve(self, references: Iterable[str]) -> Reservation:
        """Take what is free now, without waiting for anything held (the batch in flight's,
        another worker's): `holding` takes those later."""

    def release(self, reserved: Reservation) -> None: ...


class Ledger(Protocol):
    """The ledger rows one unit of work reads and writes."""

    def lock_payments_by(self, keys: Iterable[PaymentKey]) -> dict[PaymentKey, LockedPayment]:
        """Lock the payments the keys name, in id order (`FOR UPDATE`), for the transaction."""

    def applied_reversals(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]: ...

    def add_credits(
        self,
        credits: Sequence[tuple[LockedPayment, str]],
        sources: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        """Ledger rows for `credits`, their payments completed; `sources` (provider, provider
        txn id) per credit are who paid, as the events say, and the txn id is remembered on a
        payment that has none yet."""

    def settle_wallets(self, deltas: dict[int, int], *, below_zero_wanted: bool) -> set[int]:
        """Add each wallet's delta, last before the commit; the wallets left below zero when
        `below_zero_wanted` (else the empty set: the update may wait for the commit)."""

    def add_reversals(self, rows: Sequence[ReversalRow]) -> None: ...

    def flag_payment(self, payment_id: int, reason: str) -> None: ...

    def record_consumed(self, rows: Iterable[ConsumedRow]) -> None: ...

    def record_events(self, rows: Iterable[EventRecord]) -> None: ...


class UnitOfWork(Protocol):
    """One transaction over the ledger that rolls back unless committed."""

    @property
    def ledger(self) -> Ledger: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...
