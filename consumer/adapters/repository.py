"""SQL for the credit: rows locked in a fixed order (payment, then wallet), typed SQLAlchemy 2.x."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from payhooks.db.tables import LedgerTransaction, Payment, ProcessedEvent, Wallet


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

    def lock_payment(self, reference: str) -> Payment | None:
        return self.session.scalars(
            select(Payment).where(Payment.reference == reference).with_for_update()
        ).one_or_none()

    def lock_payments(self, references: Iterable[str]) -> dict[str, Payment]:
        """Lock the payments with these references, in id order (the fixed lock order)."""
        wanted = sorted(set(references))
        if not wanted:
            return {}
        rows = self.session.scalars(
            select(Payment)
            .where(Payment.reference.in_(wanted))
            .order_by(Payment.id)
            .with_for_update()
        ).all()
        return {row.reference: row for row in rows}

    def lock_wallets(self, wallet_ids: Iterable[int]) -> dict[int, Wallet]:
        """Lock wallets in id order, always after the payments."""
        wanted = sorted(set(wallet_ids))
        if not wanted:
            return {}
        rows = self.session.scalars(
            select(Wallet).where(Wallet.id.in_(wanted)).order_by(Wallet.id).with_for_update()
        ).all()
        return {row.id: row for row in rows}

    def lock_wallet(self, wallet_id: int) -> Wallet:
        return self.session.scalars(
            select(Wallet).where(Wallet.id == wallet_id).with_for_update()
        ).one()

    def add_credit(self, payment: Payment, wallet: Wallet, event_id: str) -> None:
        self.session.add(
            LedgerTransaction(
                reference=payment.reference,
                payment_id=payment.id,
                wallet_id=wallet.id,
                amount=payment.amount,
                currency=payment.currency,
                event_id=event_id,
            )
        )
        wallet.balance += payment.amount
        payment.state = "completed"
        payment.credited = True
        payment.processing_completed_at = func.now()

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

    def record_event(
        self,
        *,
        event_id: str,
        provider: str,
        event_type: str,
        reference: str,
        outcome: str,
        detail: str | None,
    ) -> None:
        """Remember the event's outcome; the first outcome recorded for an event id stands."""
        self.session.execute(
            insert(ProcessedEvent)
            .values(
                event_id=event_id,
                provider=provider,
                event_type=event_type,
                reference=reference,
                outcome=outcome,
                detail=detail,
            )
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
        )
