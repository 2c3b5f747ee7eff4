"""Read models for GET /payments/{reference} and GET /wallets/{user_id}."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import Payment, User, Wallet


def payment_view(sessions: sessionmaker[Session], reference: str) -> dict[str, Any] | None:
    with sessions() as session:
        row = session.execute(
            select(Payment, User.external_id)
            .join(User, User.id == Payment.user_id)
            .where(Payment.reference == reference)
        ).first()
    if row is None:
        return None
    payment, external_id = row
    completed = payment.processing_completed_at
    return {
        "reference": payment.reference,
        "state": payment.state,
        "credited": payment.credited,
        "refunded_amount": payment.refunded_amount,
        "user_id": external_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "provider": payment.provider,
        "created_at": payment.created_at.isoformat(),
        "completed_at": completed.isoformat() if completed else None,
    }


def wallet_view(sessions: sessionmaker[Session], external_user_id: str) -> dict[str, Any] | None:
    with sessions() as session:
        user_id = session.scalars(
            select(User.id).where(User.external_id == external_user_id)
        ).first()
        if user_id is None:
            return None
        wallets = session.execute(
            select(Wallet.currency, Wallet.balance)
            .where(Wallet.user_id == user_id)
            .order_by(Wallet.currency)
        ).all()
    return {"user_id": external_user_id, "balances": {c: b for c, b in wallets}}
