"""The initialize flow's store (service_layer/ports.py) on PostgreSQL through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import IdempotencyKey, Payment
from payments_api.adapters.payment_rows import create_payment
from payments_api.domain.errors import ReferenceTaken
from payments_api.domain.payments import InitializePayment
from payments_api.service_layer.ports import KeyRecord, PaymentRecord, ScopedKey
from schemas.states import PaymentState


def _key_is(key: ScopedKey) -> tuple[ColumnElement[bool], ...]:
    return (IdempotencyKey.client == key.client, IdempotencyKey.key == key.key)


def _payment_key_is(key: ScopedKey) -> tuple[ColumnElement[bool], ...]:
    return (Payment.client == key.client, Payment.idempotency_key == key.key)


def _record(payment: Payment) -> PaymentRecord:
    return PaymentRecord(
        payment.id,
        payment.reference,
        payment.state,
        payment.amount,
        payment.currency,
        payment.provider,
        payment.authorization_url,
    )


class SqlInitializeTransaction:
    def __init__(self, session: Session) -> None:
        self._session = session

    def claim_key(self, key: ScopedKey, request_fingerprint: str, now: datetime) -> bool:
        claimed = self._session.execute(
            insert(IdempotencyKey)
            .values(
                client=key.client,
                key=key.key,
                request_fingerprint=request_fingerprint,
                locked_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        ).first()
        return claimed is not None

    def locked_key(self, key: ScopedKey) -> KeyRecord:
        stored = self._session.scalars(
            select(IdempotencyKey).where(*_key_is(key)).with_for_update()
        ).one()
        return KeyRecord(
            stored.request_fingerprint,
            stored.response_status,
            stored.response_body,
            stored.locked_at,
            stored.created_at,
        )

    def release_key(self, key: ScopedKey) -> None:
        self._session.execute(
            update(Payment).where(*_payment_key_is(key)).values(idempotency_key=None)
        )
        self._session.execute(delete(IdempotencyKey).where(*_key_is(key)))
        self._session.flush()

    def relock_key(self, key: ScopedKey, now: datetime) -> None:
        self._session.execute(update(IdempotencyKey).where(*_key_is(key)).values(locked_at=now))

    def payment_holding(self, key: ScopedKey) -> PaymentRecord | None:
        orphan = self._session.scalars(select(Payment).where(*_payment_key_is(key))).first()
        return None if orphan is None else _record(orphan)

    def add_payment(
        self, key: ScopedKey, request: InitializePayment, reference: str
    ) -> PaymentRecord:
        try:
            payment = create_payment(
                self._session,
                reference=reference,
                user_id=request.user_id,
                amount=request.amount,
                currency=request.currency,
                provider=request.provider,
                email=request.email,
                idempotency_key=key.key,
                client=key.client,
                metadata=request.metadata,
            )
        except IntegrityError as exc:
            raise ReferenceTaken(
                f"another payment already uses the reference {request.reference!r}"
            ) from exc
        return _record(payment)

    def locked_payment(self, payment_id: int) -> PaymentRecord:
        payment = self._session.scalars(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        ).one()
        return _record(payment)

    def update_payment(
        self, payment_id: int, state: PaymentState | str, authorization_url: str | None
    ) -> None:
        self._session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(state=state, authorization_url=authorization_url)
        )

    def store_response(self, key: ScopedKey, status: int, body: dict[str, Any]) -> None:
        self._session.execute(
            update(IdempotencyKey)
            .where(*_key_is(key))
            .values(response_status=status, response_body=body, locked_at=None)
        )


class SqlInitializeStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @contextmanager
    def transaction(self) -> Iterator[SqlInitializeTransaction]:
        with self._sessions() as session, session.begin():
            yield SqlInitializeTransaction(session)
