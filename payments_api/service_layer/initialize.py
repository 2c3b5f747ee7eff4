"""The seed's `initialize_payment`, idempotent the Stripe way, in two short transactions.

1. `begin`: claim the Idempotency-Key (row lock, fingerprint) and create the payment `pending`,
   in one transaction — or learn that the key answers already (replay / 409 / 422).
2. The provider's initialize API is called with NO transaction open.
3. `finish`: move the payment to `processing` (or `failed`) and store the response under the key,
   in one transaction. A replay of the key returns exactly that stored response.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import IdempotencyKey, Payment
from payments_api.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ProviderError,
    ProviderOutcomeUnknown,
    ReferenceTaken,
)
from payments_api.domain.payments import (
    InitializePayment,
    KeyVerdict,
    StoredKey,
    judge_key,
    new_reference,
)
from payments_api.service_layer.payments import create_payment
from schemas.states import PaymentState


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Started:
    payment_id: int
    reference: str


@dataclass(frozen=True, slots=True)
class ScopedKey:
    """An Idempotency-Key as the client that sent it sees it: two clients may use the same key."""

    client: str
    key: str


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    ttl: timedelta
    lock_timeout: timedelta


def begin(
    sessions: sessionmaker[Session],
    key: ScopedKey,
    request: InitializePayment,
    request_fingerprint: str,
    policy: KeyPolicy,
) -> Started | StoredResponse:
    """Transaction 1. Raises IdempotencyKeyInFlight, IdempotencyKeyReused or ReferenceTaken."""
    try:
        with sessions() as session, session.begin():
            now = datetime.now(UTC)
            if _claim(session, key, request_fingerprint, now):
                return _start(session, key, request)
            stored = session.scalars(
                select(IdempotencyKey).where(*_key_is(key)).with_for_update()
            ).one()
            return _resume(
                session,
                stored,
                key=key,
                request=request,
                request_fingerprint=request_fingerprint,
                policy=policy,
                now=now,
            )
    except IntegrityError as exc:
        raise ReferenceTaken(
            f"another payment already uses the reference {request.reference!r}"
        ) from exc


def _key_is(key: ScopedKey) -> tuple[ColumnElement[bool], ...]:
    return (IdempotencyKey.client == key.client, IdempotencyKey.key == key.key)


def _payment_key_is(key: ScopedKey) -> tuple[ColumnElement[bool], ...]:
    return (Payment.client == key.client, Payment.idempotency_key == key.key)


def _claim(session: Session, key: ScopedKey, request_fingerprint: str, now: datetime) -> bool:
    """Insert the key locked by us; False if it exists (a concurrent insert waits for its owner)."""
    claimed = session.execute(
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


def _resume(
    session: Session,
    stored: IdempotencyKey,
    *,
    key: ScopedKey,
    request: InitializePayment,
    request_fingerprint: str,
    policy: KeyPolicy,
    now: datetime,
) -> Started | StoredResponse:
    verdict = judge_key(
        StoredKey(
            stored.request_fingerprint,
            stored.response_status is not None,
            stored.locked_at,
            stored.created_at,
        ),
        request_fingerprint,
        now=now,
        ttl=policy.ttl,
        lock_timeout=policy.lock_timeout,
    )
    if verdict is KeyVerdict.REPLAY:
        return StoredResponse(stored.response_status or 0, stored.response_body or {}, True)
    if verdict is KeyVerdict.IN_FLIGHT:
        raise IdempotencyKeyInFlight
    if verdict is KeyVerdict.MISMATCH:
        raise IdempotencyKeyReused
    if verdict is KeyVerdict.EXPIRED:
        # The old payment keeps its row but lets go of the key, which starts afresh.
        session.execute(update(Payment).where(*_payment_key_is(key)).values(idempotency_key=None))
        session.execute(delete(IdempotencyKey).where(*_key_is(key)))
        session.flush()
        _claim(session, key, request_fingerprint, now)
        return _start(session, key, request)
    # ABANDONED: whoever held the key died between the transactions; take over its payment.
    stored.locked_at = now
    orphan = session.scalars(select(Payment).where(*_payment_key_is(key))).first()
    if orphan is not None:
        return Started(orphan.id, orphan.reference)
    return _start(session, key, request)


def _start(session: Session, key: ScopedKey, request: InitializePayment) -> Started:
    payment = create_payment(
        session,
        reference=request.reference or new_reference(),
        user_id=request.user_id,
        amount=request.amount,
        currency=request.currency,
        provider=request.provider,
        email=request.email,
        idempotency_key=key.key,
        client=key.client,
        metadata=request.metadata,
    )
    return Started(payment.id, payment.reference)


def finish(
    sessions: sessionmaker[Session],
    key: ScopedKey,
    request: InitializePayment,
    started: Started,
    outcome: str | ProviderError,
) -> StoredResponse:
    """Transaction 2: `outcome` is the checkout URL, or the provider's error."""
    with sessions() as session, session.begin():
        payment = session.scalars(
            select(Payment).where(Payment.id == started.payment_id).with_for_update()
        ).one()
        # Only from `pending`: a success webhook may have completed the payment already.
        if payment.state == PaymentState.PENDING:
            payment.state = payment_state_after(outcome)
        if isinstance(outcome, str):
            payment.authorization_url = outcome
            response = StoredResponse(201, payment_created_body(payment, request))
        else:
            response = _provider_failure(payment, outcome)
        session.execute(
            update(IdempotencyKey)
            .where(*_key_is(key))
            .values(response_status=response.status, response_body=response.body, locked_at=None)
        )
    return response


def payment_state_after(outcome: str | ProviderError) -> PaymentState:
    """Unknown is not failed: only a definite refusal fails the payment. When the provider may
    have initialized it (timeout, 5xx, lost connection), it stays `processing` so a later success
    webhook credits it; the sweep settles the ones that never hear back."""
    if isinstance(outcome, str | ProviderOutcomeUnknown):
        return PaymentState.PROCESSING
    return PaymentState.FAILED


def _provider_failure(payment: Payment, outcome: ProviderError) -> StoredResponse:
    code = (
        "provider_outcome_unknown"
        if isinstance(outcome, ProviderOutcomeUnknown)
        else "provider_error"
    )
    message = f"{outcome.message} (payment {payment.reference} is {payment.state})"
    return StoredResponse(502, {"error": {"code": code, "message": message}})


def payment_created_body(payment: Payment, request: InitializePayment) -> dict[str, Any]:
    return {
        "reference": payment.reference,
        "state": payment.state,
        "authorization_url": payment.authorization_url,
        "user_id": request.user_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "provider": payment.provider,
    }
