"""SQL for the credit: rows locked in a fixed order (payment, then wallet), typed SQLAlchemy 2.x."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import BigInteger, column, func, select, update, values
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
