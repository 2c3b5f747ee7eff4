"""The seed's `initialize_payment`, idempotent the Stripe way, in two short transactions.

1. `begin`: claim the Idempotency-Key (row lock, fingerprint) and create the payment `pending`,
   in one transaction — or learn that the key answers already (replay / 409 / 422).
2. The provider's initialize API is called with NO transaction open.
3. `finish`: move the payment to `processing` (or `failed`) and store the response under the key,
   in one transaction. A replay of the key returns exactly that stored response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

import structlog

from payments_api.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ProviderError,
    ProviderOutcomeUnknown,
)
from payments_api.domain.payments import (
    InitializePayment,
    KeyVerdict,
    StoredKey,
    judge_key,
    new_reference,
)
from payments_api.service_layer.ports import (
    InitializeStore,
    InitializeTransaction,
    KeyRecord,
    PaymentRecord,
    ProviderInitializer,
    ScopedKey,
)
from schemas.states import PaymentState

log = structlog.get_logger("payhooks.api")
T = TypeVar("T")


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
class KeyPolicy:
    ttl: timedelta
    lock_timeout: timedelta


class InThread(Protocol):
    """Runs blocking work off the event loop (Starlette's `run_in_threadpool` in the app)."""

    def __call__(self, func: Callable[[], T], /) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class Initializer:
    """What `initialize_payment` works with: the store, the provider, a thread and a clock."""

    store: InitializeStore
    provider: ProviderInitializer
    in_thread: InThread
    clock: Callable[[], datetime]
    policy: KeyPolicy


async def initialize_payment(
    use: Initializer, key: ScopedKey, request: InitializePayment, request_fingerprint: str
) -> StoredResponse:
    """The whole flow. Raises IdempotencyKeyInFlight, IdempotencyKeyReused or ReferenceTaken."""
    begun = await use.in_thread(
        partial(begin, use.store, key, request, request_fingerprint, use.policy, now=use.clock())
    )
    if isinstance(begun, StoredResponse):
        return begun
    # No transaction is open here: the provider call may take seconds.
    outcome: str | ProviderError
    try:
        outcome = await use.provider.initialize(request, begun.reference, key.key)
    except ProviderError as exc:
        log.warning(
            "payment.provider_failed",
            client=key.client,
            reference=begun.reference,
            error_class=type(exc).__name__,
            detail=exc.message,
        )
        outcome = exc
    stored = await use.in_thread(partial(finish, use.store, key, request, begun, outcome))
    log.info(
        "payment.initialized", client=key.client, reference=begun.reference, status=stored.status
    )
    return stored


def begin(
    store: InitializeStore,
    key: ScopedKey,
    request: InitializePayment,
    request_fingerprint: str,
    policy: KeyPolicy,
    *,
    now: datetime,
) -> Started | StoredResponse:
    """Transaction 1. Raises IdempotencyKeyInFlight, IdempotencyKeyReused or ReferenceTaken."""
    with store.transaction() as tx:
        if tx.claim_key(key, request_fingerprint, now):
            return _start(tx, key, request)
        stored = tx.locked_key(key)
        return _resume(
            tx,
            stored,
            key=key,
            request=request,
            request_fingerprint=request_fingerprint,
            policy=policy,
            now=now,
        )


def _resume(
    tx: InitializeTransaction,
    stored: KeyRecord,
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
        tx.release_key(key)
        tx.claim_key(key, request_fingerprint, now)
        return _start(tx, key, request)
    # ABANDONED: whoever held the key died between the transactions; take over its payment.
    tx.relock_key(key, now)
    orphan = tx.payment_holding(key)
    if orphan is not None:
        return Started(orphan.id, orphan.reference)
    return _start(tx, key, request)


def _start(tx: InitializeTransaction, key: ScopedKey, request: InitializePayment) -> Started:
    payment = tx.add_payment(key, request, request.reference or new_reference())
    return Started(payment.id, payment.reference)


def finish(
    store: InitializeStore,
    key: ScopedKey,
    request: InitializePayment,
    started: Started,
    outcome: str | ProviderError,
) -> StoredResponse:
    """Transaction 2: `outcome` is the checkout URL, or the provider's error."""
    with store.transaction() as tx:
        payment = tx.locked_payment(started.payment_id)
        state = payment.state
        # Only from `pending`: a success webhook may have completed the payment already.
        if state == PaymentState.PENDING:
            state = payment_state_after(outcome)
        url = outcome if isinstance(outcome, str) else payment.authorization_url
        tx.update_payment(payment.id, state, url)
        payment = PaymentRecord(
            payment.id,
            payment.reference,
            str(state),
            payment.amount,
            payment.currency,
            payment.provider,
            url,
        )
        if isinstance(outcome, str):
            response = StoredResponse(201, payment_created_body(payment, request))
        else:
            response = _provider_failure(payment, outcome)
        tx.store_response(key, response.status, response.body)
    return response


def payment_state_after(outcome: str | ProviderError) -> PaymentState:
    """Unknown is not failed: only a definite refusal fails the payment. When the provider may
    have initialized it (timeout, 5xx, lost connection), it stays `processing` so a later success
    webhook credits it; the sweep settles the ones that never hear back."""
    if isinstance(outcome, str | ProviderOutcomeUnknown):
        return PaymentState.PROCESSING
    return PaymentState.FAILED


def _provider_failure(payment: PaymentRecord, outcome: ProviderError) -> StoredResponse:
    code = (
        "provider_outcome_unknown"
        if isinstance(outcome, ProviderOutcomeUnknown)
        else "provider_error"
    )
    message = f"{outcome.message} (payment {payment.reference} is {payment.state})"
    return StoredResponse(502, {"error": {"code": code, "message": message}})


def payment_created_body(payment: PaymentRecord, request: InitializePayment) -> dict[str, Any]:
    return {
        "reference": payment.reference,
        "state": payment.state,
        "authorization_url": payment.authorization_url,
        "user_id": request.user_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "provider": payment.provider,
    }
