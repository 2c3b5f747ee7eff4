"""In-memory fakes of the consumer's ports (consumer/service_layer/ports.py), each with a record of
its calls: the fast tier (tests/unit/service_layer) runs the service layers' decisions on them.

Writes are staged and applied only on `commit()`, so a unit of work left without a commit changes
nothing, as PostgreSQL's would. The real-server tests stay the proof; these add speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType

from consumer.service_layer.ports import ConsumedRow, EventRecord, Held, PaymentKey, ReversalRow
from kernel.db.tables import Payment

Write = Callable[[], None]


@dataclass
class FakeLedger:
    """Payments, wallet balances and the rows a credit writes, as committed so far."""

    payments: dict[str, Payment] = field(default_factory=dict)
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
    ) -> Payment:
        payment = Payment(
            id=len(self.payments) + 1,
            reference=reference,
            user_id=1,
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

    def lock_payments_by(self, keys: Iterable[PaymentKey]) -> dict[PaymentKey, Payment]:
        self.calls.append("lock_payments_by")
        found: dict[PaymentKey, Payment] = {}
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
        credits: Sequence[tuple[Payment, str]],
        sources: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        self.calls.append("add_credits")
        self.sources.extend(sources)
        for payment, event_id in credits:
            if payment.reference in self.fail_on_credit:
                raise RuntimeError(f"the ledger refuses {payment.reference}")
            self.staged.append(lambda p=payment, e=event_id: self._credit(p, e))

    def _credit(self, payment: Payment, event_id: str) -> None:
        if any(reference == payment.reference for reference, _ in self.credits):
            raise AssertionError(f"UNIQUE(reference) violated: {payment.reference}")
        self.credits.append((payment.reference, event_id))
        payment.state, payment.credited = "completed", True

    def settle_wallets(self, deltas: dict[int, int]) -> set[int]:
        self.calls.append("settle_wallets")
        for wallet_id, delta in deltas.items():
            self.staged.append(lambda w=wallet_id, d=delta: self._add(w, d))
        return {w for w, d in deltas.items() if self.balances.get(w, 0) + d < 0}

    def _add(self, wallet_id: int, delta: int) -> None:
        self.balances[wallet_id] = self.balances.get(wallet_id, 0) + delta

    def set_provider_txn_ids(self, pairs: Iterable[tuple[int, str]]) -> None:
        self.calls.append("set_provider_txn_ids")
        by_id = {p.id: p for p in self.payments.values()}
        for payment_id, txn_id in pairs:
            self.staged.append(lambda p=by_id[payment_id], t=txn_id: _set_txn_id(p, t))

    def add_reversals(self, rows: Sequence[ReversalRow]) -> None:
        self.calls.append("add_reversals")
        for row in rows:
            self.staged.append(lambda r=row: self._reverse(r))

    def _reverse(self, row: ReversalRow) -> None:
        self.reversals.append(row)
        row.payment.refunded_amount += row.amount
        row.payment.state = row.state_after

    def flag_payment(self, payment_id: int, reason: str) -> None:
        self.calls.append("flag_payment")
        self.staged.append(lambda: self.flags.__setitem__(payment_id, reason))

    def record_consumed(self, rows: Iterable[ConsumedRow]) -> None:
        self.calls.append("record_consumed")
        for row in rows:
            self.staged.append(lambda r=row: self.consumed.append(r))

    def record_events(self, rows: Iterable[EventRecord]) -> None:
        self.calls.append("record_events")
        for row in rows:  # ON CONFLICT (event_id) DO NOTHING
            self.staged.append(lambda r=row: self.events.setdefault(r.event_id, r))


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
    """The Locks port: references listed in `taken` are held by someone else (they time out)."""

    taken: set[str] = field(default_factory=set)
    held: list[list[str]] = field(default_factory=list)

    @contextmanager
    def holding(self, references: Iterable[str]) -> Iterator[Held]:
        wanted = sorted(set(references))
        self.held.append(wanted)
        yield Held(timed_out={r for r in wanted if r in self.taken})


def _set_txn_id(payment: Payment, txn_id: str) -> None:
    payment.provider_txn_id = txn_id
