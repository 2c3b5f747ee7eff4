"""In-memory fakes of the consumer's ports (consumer/service_layer/ports.py) and the api's
(payments_api/service_layer/ports.py), each with a record of its calls: the fast tier
(tests/unit/service_layer) runs the service layers' decisions on them.

Writes are staged and applied only on `commit()`, so a unit of work left without a commit changes
nothing, as PostgreSQL's would. The real-server tests stay the proof; these add speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

from consumer.service_layer.ports import (
    ConsumedRow,
    EventRecord,
    Held,
    LockedPayment,
    PaymentKey,
    Reservation,
    ReversalRow,
)
from payments_api.domain.errors import ProviderError, ReferenceTaken
from payments_api.domain.payments import InitializePayment
from payments_api.service_layer.ports import (
    KeyRecord,
    PaymentRecord,
    PaymentSnapshot,
    ScopedKey,
)
from schemas.states import PaymentState

Write = Callable[[], None]


@dataclass
class FakeLedger:
    """Payments, wallet balances and the rows a credit writes, as committed so far."""

    payments: dict[str, LockedPayment] = field(default_factory=dict)  # committed rows
    balances: dict[int, int] = field(default_factory=dict)
    credits: list[tuple[str, str]] = field(default_factory=list)  # (reference, event_id)
    reversals: list[ReversalRow] = field(default_factory=list)
    events: dict[str, EventRecord] = field(default_factory=dict)
    consumed: list[ConsumedRow] = field(default_factory=list)
    flags: dict[int, str] = field(default_factory=dict)
    sources: list[tuple[str, str | None]] = field(default_factory=list)  # who paid, per credit
    calls: list[str] = field(default_factory=list)
    staged: list[Write] = field(default_factory=list)
    fail_on_credit: set[str] = field(default_factory=set)  # references whose credit raises

    def add_payment(
        self, reference: str, amount: int = 500_000, currency: str = "NGN", *, wallet_id: int = 1
    ) -> LockedPayment:
        payment = LockedPayment(
            id=len(self.payments) + 1,
            reference=reference,
            wallet_id=wallet_id,
            amount=amount,
            currency=currency,
            provider="paystack",
            state="processing",
            credited=False,
            refunded_amount=0,
        )
        self.payments[reference] = payment
        self.balances.setdefault(wallet_id, 0)
        return payment

    # --- the Ledger port ---------------------------------------------------------------------

    def lock_payments_by(self, keys: Iterable[PaymentKey]) -> dict[PaymentKey, LockedPayment]:
        self.calls.append("lock_payments_by")
        found: dict[PaymentKey, LockedPayment] = {}
        for key in keys:
            for payment in self.payments.values():
                by_txn = key.txn_id and payment.provider_txn_id == key.txn_id
                if payment.reference == key.reference or by_txn:
                    found[key] = payment
        return found

    def applied_reversals(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        self.calls.append("applied_reversals")
        done = {(row.provider, row.reversal_id) for row in self.reversals}
        return set(keys) & done

    def add_credits(
        self,
        credits: Sequence[tuple[LockedPayment, str]],
        sources: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        self.calls.append("add_credits")
        self.sources.extend(sources)
        txn_ids = [txn_id for _, txn_id in sources] or [None] * len(credits)
        for (payment, event_id), txn_id in zip(credits, txn_ids, strict=True):
            if payment.reference in self.fail_on_credit:
                raise RuntimeError(f"the ledger refuses {payment.reference}")
            self.staged.append(partial(self._credit, payment, event_id, txn_id))

    def _credit(self, payment: LockedPayment, event_id: str, txn_id: str | None) -> None:
        if any(reference == payment.reference for reference, _ in self.credits):
            raise AssertionError(f"UNIQUE(reference) violated: {payment.reference}")
        self.credits.append((payment.reference, event_id))
        known = self.payments[payment.reference].provider_txn_id
        self._update(
            payment.reference, state="completed", credited=True, provider_txn_id=known or txn_id
        )

    def _update(self, reference: str, **changes: Any) -> None:
        self.payments[reference] = self.payments[reference]._replace(**changes)

    def settle_wallets(self, deltas: dict[int, int], *, below_zero_wanted: bool) -> set[int]:
        self.calls.append("settle_wallets")
        for wallet_id, delta in deltas.items():
            self.staged.append(partial(self._add, wallet_id, delta))
        if not below_zero_wanted:
            return set()
        return {w for w, d in deltas.items() if self.balances.get(w, 0) + d < 0}

    def _add(self, wallet_id: int, delta: int) -> None:
        self.balances[wallet_id] = self.balances.get(wallet_id, 0) + delta

    def add_reversals(self, rows: Sequence[ReversalRow]) -> None:
        self.calls.append("add_reversals")
        for row in rows:
            self.staged.append(partial(self._reverse, row))

    def _reverse(self, row: ReversalRow) -> None:
        self.reversals.append(row)
        reference = row.payment.reference
        refunded = self.payments[reference].refunded_amount + row.amount
        self._update(reference, refunded_amount=refunded, state=row.state_after)

    def flag_payment(self, payment_id: int, reason: str) -> None:
        self.calls.append("flag_payment")
        self.staged.append(lambda: self.flags.__setitem__(payment_id, reason))

    def record_consumed(self, rows: Iterable[ConsumedRow]) -> None:
        self.calls.append("record_consumed")
        for row in rows:
            self.staged.append(partial(self.consumed.append, row))

    def record_events(self, rows: Iterable[EventRecord]) -> None:
        self.calls.append("record_events")
        for row in rows:
            self.staged.append(partial(self._record_event, row))

    def _record_event(self, row: EventRecord) -> None:  # ON CONFLICT (event_id) DO NOTHING
        self.events.setdefault(row.event_id, row)


@dataclass
class FakeUnitOfWork:
    """One transaction over a FakeLedger: staged writes land on commit, vanish otherwise.
    `failures` are raised by the next commits, one each (a lost connection, say)."""

    ledger: FakeLedger
    failures: list[BaseException] = field(default_factory=list)
    committed: int = 0
    rolled_back: int = 0

    def __call__(self) -> FakeUnitOfWork:  # the `new_uow` factory the Settler takes
        return self

    def __enter__(self) -> FakeUnitOfWork:
        self.ledger.staged.clear()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.ledger.staged:
            self.rolled_back += 1
        self.ledger.staged.clear()

    def commit(self) -> None:
        if self.failures:
            raise self.failures.pop(0)
        for write in self.ledger.staged:
            write()
        self.ledger.staged.clear()
        self.committed += 1


@dataclass
class FakeLocks:
    """The Locks port: references listed in `taken` are held by someone else (they time out).
    `held` records each `holding` block's references, `reserved` each reservation's, `released`
    the references each reservation gave back unadopted."""

    taken: set[str] = field(default_factory=set)
    held: list[list[str]] = field(default_factory=list)
    reserved: list[list[str]] = field(default_factory=list)
    released: list[list[str]] = field(default_factory=list)

    @contextmanager
    def holding(
        self, references: Iterable[str], reserved: Reservation | None = None
    ) -> Iterator[Held]:
        wanted = sorted(set(references))
        if reserved is not None:
            reserved.references = set()  # adopted
        self.held.append(wanted)
        yield Held(timed_out={r for r in wanted if r in self.taken})

    def reserve(self, references: Iterable[str]) -> Reservation:
        free = {r for r in references if r not in self.taken}
        self.reserved.append(sorted(free))
        return Reservation(free, "fake")

    def release(self, reserved: Reservation) -> None:
        if reserved.references:
            self.released.append(sorted(reserved.references))
        reserved.references = set()


# --- the api's initialize flow (payments_api/service_layer/ports.py) ------------------------


@dataclass
class FakeInitializeStore:
    """Idempotency-Keys and payments as committed; a transaction works on a copy that replaces
    them only when its block ends normally (a raise leaves them as they were). Also the KeyPruner
    port over the same keys: keys in `row_locked` are held by another transaction (skipped)."""

    keys: dict[ScopedKey, KeyRecord] = field(default_factory=dict)
    payments: dict[int, PaymentRecord] = field(default_factory=dict)
    holders: dict[ScopedKey, int] = field(default_factory=dict)  # key -> payment id
    calls: list[str] = field(default_factory=list)
    commits: int = 0
    row_locked: set[ScopedKey] = field(default_factory=set)
    prune_batches: list[tuple[datetime, int, int]] = field(default_factory=list)  # cutoff, limit, n

    def delete_keys_before(self, cutoff: datetime, limit: int) -> int:
        old = [
            key
            for key, record in self.keys.items()
            if record.created_at < cutoff and key not in self.row_locked
        ][:limit]
        for key in old:  # the payment stays, its key is cleared
            del self.keys[key]
            self.holders.pop(key, None)
        self.prune_batches.append((cutoff, limit, len(old)))
        return len(old)

    @contextmanager
    def transaction(self) -> Iterator[FakeInitializeTransaction]:
        tx = FakeInitializeTransaction(
            self, dict(self.keys), dict(self.payments), dict(self.holders)
        )
        yield tx
        self.keys, self.payments, self.holders = tx.keys, tx.payments, tx.holders
        self.commits += 1


@dataclass
class FakeInitializeTransaction:
    store: FakeInitializeStore
    keys: dict[ScopedKey, KeyRecord]
    payments: dict[int, PaymentRecord]
    holders: dict[ScopedKey, int]

    def _call(self, name: str) -> None:
        self.store.calls.append(name)

    def claim_key(self, key: ScopedKey, request_fingerprint: str, now: datetime) -> bool:
        self._call("claim_key")
        if key in self.keys:
            return False
        self.keys[key] = KeyRecord(request_fingerprint, None, None, now, now)
        return True

    def locked_key(self, key: ScopedKey) -> KeyRecord:
        self._call("locked_key")
        return self.keys[key]

    def release_key(self, key: ScopedKey) -> None:
        self._call("release_key")
        self.holders.pop(key, None)
        del self.keys[key]

    def relock_key(self, key: ScopedKey, now: datetime) -> None:
        self._call("relock_key")
        self.keys[key] = replace(self.keys[key], locked_at=now)

    def payment_holding(self, key: ScopedKey) -> PaymentRecord | None:
        self._call("payment_holding")
        held = self.holders.get(key)
        return None if held is None else self.payments[held]

    def add_payment(
        self, key: ScopedKey, request: InitializePayment, reference: str
    ) -> PaymentRecord:
        self._call("add_payment")
        if any(payment.reference == reference for payment in self.payments.values()):
            raise ReferenceTaken(f"another payment already uses the reference {reference!r}")
        payment = PaymentRecord(
            len(self.payments) + 1,
            reference,
            PaymentState.PENDING,
            request.amount,
            request.currency,
            request.provider,
        )
        self.payments[payment.id] = payment
        self.holders[key] = payment.id
        return payment

    def locked_payment(self, payment_id: int) -> PaymentRecord:
        self._call("locked_payment")
        return self.payments[payment_id]

    def update_payment(
        self, payment_id: int, state: PaymentState | str, authorization_url: str | None
    ) -> None:
        self._call("update_payment")
        self.payments[payment_id] = replace(
            self.payments[payment_id], state=str(state), authorization_url=authorization_url
        )

    def store_response(self, key: ScopedKey, status: int, body: dict[str, Any]) -> None:
        self._call("store_response")
        self.keys[key] = replace(
            self.keys[key], response_status=status, response_body=body, locked_at=None
        )


@dataclass
class FakeProvider:
    """The provider's initialize API: answers a checkout URL, or raises `error` when set."""

    error: ProviderError | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (reference, idempotency key)

    async def initialize(
        self, request: InitializePayment, reference: str, idempotency_key: str
    ) -> str:
        self.calls.append((reference, idempotency_key))
        if self.error is not None:
            raise self.error
        return f"https://checkout.example/{reference}"


@dataclass
class FakeReadModel:
    """GET /payments' and GET /wallets' read model: payments by reference, balances by user."""

    payments: dict[str, PaymentSnapshot] = field(default_factory=dict)
    users: dict[str, dict[str, int]] = field(default_factory=dict)  # user id -> currency -> balance
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, argument)

    def payment(self, reference: str) -> PaymentSnapshot | None:
        self.calls.append(("payment", reference))
        return self.payments.get(reference)

    def balances(self, user_id: str) -> dict[str, int] | None:
        self.calls.append(("balances", user_id))
        found = self.users.get(user_id)
        return None if found is None else dict(sorted(found.items()))
