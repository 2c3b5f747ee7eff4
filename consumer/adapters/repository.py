"""SQL for the credit and its reversals: rows locked in a fixed order (payment, then wallet),
set-based statements, typed SQLAlchemy 2.x."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import BigInteger, String, and_, column, func, or_, select, tuple_, update, values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from payhooks.db.tables import LedgerReversal, LedgerTransaction, Payment, ProcessedEvent, Wallet


@dataclass(frozen=True, slots=True)
class PaymentKey:
    """How an event names its payment: our reference, or the provider's own transaction id."""

    reference: str = ""
    provider: str = ""
    txn_id: str = ""


@dataclass(frozen=True, slots=True)
class ReversalRow:
    """One refund / lost dispute to write: the locked payment and the state it ends in."""

    payment: Payment
    provider: str
    reversal_id: str
    kind: str
    amount: int
    event_id: str
    state_after: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    event_id: str
    provider: str
    event_type: str
    reference: str
    outcome: str
    detail: str | None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_payments_by(self, keys: Iterable[PaymentKey]) -> dict[PaymentKey, Payment]:
        """Lock the payments the keys name (by reference or provider txn id), in id order; each
        payment is found under every key that names it. A txn id naming two payments (it should
        not) finds neither: nothing is credited or reversed on an ambiguous match."""
        wanted = set(keys)
        references = sorted({k.reference for k in wanted if k.reference})
        txns = sorted({(k.provider, k.txn_id) for k in wanted if not k.reference and k.txn_id})
        if not references and not txns:
            return {}
        conditions = []
        if references:
            conditions.append(Payment.reference.in_(references))
        if txns:
            conditions.append(tuple_(Payment.provider, Payment.provider_txn_id).in_(txns))
        rows = self.session.scalars(
            select(Payment).where(or_(*conditions)).order_by(Payment.id).with_for_update()
        ).all()
        found: dict[PaymentKey, Payment] = {}
        by_txn: dict[tuple[str, str], list[Payment]] = {}
        for row in rows:
            found[PaymentKey(reference=row.reference)] = row
            if row.provider_txn_id:
                by_txn.setdefault((row.provider, row.provider_txn_id), []).append(row)
        for (provider, txn_id), matches in by_txn.items():
            if len(matches) == 1:
                found[PaymentKey(provider=provider, txn_id=txn_id)] = matches[0]
        return {key: found[key] for key in wanted if key in found}

    def applied_reversals(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (provider, reversal id) already have their ledger row."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = self.session.execute(
            select(LedgerReversal.provider, LedgerReversal.reversal_id).where(
                tuple_(LedgerReversal.provider, LedgerReversal.reversal_id).in_(wanted)
            )
        ).all()
        return {(row.provider, row.reversal_id) for row in rows}

    def lock_wallets(self, wallet_ids: Iterable[int]) -> list[int]:
        """Lock wallets in id order, always after the payments."""
        wanted = sorted(set(wallet_ids))
        if not wanted:
            return []
        return list(
            self.session.scalars(
                select(Wallet.id).where(Wallet.id.in_(wanted)).order_by(Wallet.id).with_for_update()
            ).all()
        )

    def add_credits(self, credits: Sequence[tuple[Payment, str]]) -> None:
        """Credit many locked payments with three statements, not three per payment: the
        ledger rows, each wallet's total, the payments marked completed."""
        if not credits:
            return
        self.session.execute(
            insert(LedgerTransaction),
            [
                {
                    "reference": p.reference,
                    "payment_id": p.id,
                    "wallet_id": p.wallet_id,
                    "amount": p.amount,
                    "currency": p.currency,
                    "event_id": event_id,
                }
                for p, event_id in credits
            ],
        )
        totals: dict[int, int] = {}
        for payment, _ in credits:
            totals[payment.wallet_id] = totals.get(payment.wallet_id, 0) + payment.amount
        deltas = values(column("id", BigInteger), column("delta", BigInteger), name="deltas").data(
            sorted(totals.items())
        )
        self.session.execute(
            update(Wallet)
            .where(Wallet.id == deltas.c.id)
            .values(balance=Wallet.balance + deltas.c.delta, updated_at=func.now())
        )
        self.session.execute(
            update(Payment)
            .where(Payment.id.in_(sorted(p.id for p, _ in credits)))
            .values(
                state="completed",
                credited=True,
                processing_completed_at=func.now(),
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )

    def set_provider_txn_ids(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Remember the provider's id of each credited transaction (refunds may name only it)."""
        data = sorted(set(pairs))
        if not data:
            return
        txns = values(column("id", BigInteger), column("txn_id", String), name="txns").data(data)
        self.session.execute(
            update(Payment)
            .where(and_(Payment.id == txns.c.id, Payment.provider_txn_id.is_(None)))
            .values(provider_txn_id=txns.c.txn_id)
            .execution_options(synchronize_session=False)
        )

    def add_reversals(self, rows: Sequence[ReversalRow]) -> set[int]:
        """Write the reversal rows (the database trigger adds each to its payment's
        refunded_amount, whose CHECK caps it at the amount), debit each wallet by its total, set
        each payment's final state. Returns the wallets left below zero."""
        if not rows:
            return set()
        self.session.execute(
            insert(LedgerReversal),
            [
                {
                    "payment_id": r.payment.id,
                    "wallet_id": r.payment.wallet_id,
                    "provider": r.provider,
                    "reversal_id": r.reversal_id,
                    "kind": r.kind,
                    "amount": r.amount,
                    "currency": r.payment.currency,
                    "event_id": r.event_id,
                }
                for r in rows
            ],
        )
        totals: dict[int, int] = {}
        final_state: dict[int, str] = {}
        for row in rows:
            totals[row.payment.wallet_id] = totals.get(row.payment.wallet_id, 0) + row.amount
            final_state[row.payment.id] = row.state_after  # the last one of the batch wins
        deltas = values(column("id", BigInteger), column("delta", BigInteger), name="debits").data(
            sorted(totals.items())
        )
        negative = self.session.execute(
            update(Wallet)
            .where(Wallet.id == deltas.c.id)
            .values(balance=Wallet.balance - deltas.c.delta, updated_at=func.now())
            .returning(Wallet.id, Wallet.balance)
        ).all()
        states = values(column("id", BigInteger), column("state", String), name="states").data(
            sorted(final_state.items())
        )
        self.session.execute(
            update(Payment)
            .where(Payment.id == states.c.id)
            .values(state=states.c.state, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        return {row.id for row in negative if row.balance < 0}

    def flag_payment(self, payment_id: int, reason: str) -> None:
        self.session.execute(
            update(Payment).where(Payment.id == payment_id).values(flag_reason=reason)
        )

    def record_events(self, rows: Iterable[EventRecord]) -> None:
        """Remember many outcomes in one statement, in event-id order (a fixed lock order)."""
        unique = {row.event_id: row for row in reversed(list(rows))}
        if not unique:
            return
        self.session.execute(
            insert(ProcessedEvent)
            .values([unique[key].as_row() for key in sorted(unique)])
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
        )
