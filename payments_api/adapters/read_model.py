"""The read model of GET /payments and GET /wallets (service_layer/ports.py) on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import Payment, User, Wallet
from payments_api.service_layer.ports import PaymentSnapshot


class SqlReadModel:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def payment(self, reference: str) -> PaymentSnapshot | None:
        with self._sessions() as session:
            row = session.execute(
                select(Payment, User.external_id)
                .join(User, User.id == Payment.user_id)
                .where(Payment.reference == reference)
            ).first()
        if row is None:
            return None
        payment, external_id = row
        return PaymentSnapshot(
            reference=payment.reference,
            state=payment.state,
            credited=payment.credited,
            refunded_amount=payment.refunded_amount,
            user_id=external_id,
            amount=payment.amount,
            currency=payment.currency,
            provider=payment.provider,
            created_at=payment.created_at,
            completed_at=payment.processing_completed_at,
        )

    def balances(self, user_id: str) -> dict[str, int] | None:
        with self._sessions() as session:
            found = session.scalars(select(User.id).where(User.external_id == user_id)).first()
            if found is None:
                return None
            wallets = session.execute(
                select(Wallet.currency, Wallet.balance)
                .where(Wallet.user_id == found)
                .order_by(Wallet.currency)
            ).all()
        return {currency: balance for currency, balance in wallets}
