"""SQL for the credit: rows locked in a fixed order (payment, then wallet), typed SQLAlchemy 2.x."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from payhooks.db.tables import LedgerTransaction, Payment, ProcessedEvent, Wallet


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_payment(self, reference: str) -> Payment | None:
        return self.session.scalars(
            select(Payment).where(Payment.reference == reference).with_for_update()
        ).one_or_none()

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
