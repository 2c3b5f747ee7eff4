"""The payment log row and the user's wallet on a SQLAlchemy session: the initialize store adds
payments with it (and tests, the chaos load and the e2e runs seed theirs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from kernel.db.tables import Payment, User, Wallet
from schemas.states import PaymentState


def wallet_for(session: Session, external_user_id: str, currency: str) -> Wallet:
    """The user's wallet in `currency`, created on first use (safe under concurrency)."""
    session.execute(insert(User).values(external_id=external_user_id).on_conflict_do_nothing())
    user_id = session.scalars(select(User.id).where(User.external_id == external_user_id)).one()
    session.execute(
        insert(Wallet)
        .values(user_id=user_id, currency=currency, balance=0)
        .on_conflict_do_nothing()
    )
    return session.scalars(
        select(Wallet).where(Wallet.user_id == user_id, Wallet.currency == currency)
    ).one()


def create_payment(
    session: Session,
    *,
    reference: str,
    user_id: str,
    amount: int,
    currency: str,
    provider: str,
    email: str | None = None,
    idempotency_key: str | None = None,
    client: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Add a payment log row in state `pending`; the caller commits."""
    wallet = wallet_for(session, user_id, currency)
    payment = Payment(
        reference=reference,
        user_id=wallet.user_id,
        wallet_id=wallet.id,
        amount=amount,
        currency=currency,
        provider=provider,
        email=email,
        state=PaymentState.PENDING,
        idempotency_key=idempotency_key,
        client=client,
        payment_metadata=metadata,
    )
    session.add(payment)
    session.flush()
    return payment
