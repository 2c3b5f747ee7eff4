"""The seed's `credit_user`, for one event or a whole batch: one PostgreSQL transaction, at most
one credit per payment.

Lock order is fixed for every transaction: payments by id, then wallets by id, then the
processed_events inbox by event id, so concurrent credits never deadlock. Per-event semantics
hold inside a batch: each event is decided against the payment as the events before it in the
same batch left it (a second success for a reference is a duplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from consumer.adapters.repository import EventRecord
from consumer.domain.credit import PaymentView, Verdict, decide_credit, ignored
from consumer.domain.errors import ConsumerError, CreditMismatch, PaymentNotFound, PoisonMessage
from consumer.domain.state_machine import PaymentState
from consumer.service_layer.unit_of_work import UnitOfWork
from payhooks.db.tables import Payment
from schemas.envelope import WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES, ProviderEvent


@dataclass(frozen=True, slots=True)
class CreditItem:
    envelope: WebhookEnvelope
    event: ProviderEvent


@dataclass(frozen=True, slots=True)
class CreditOutcome:
    """An event's settled result: a verdict, or the error that stopped it (nothing written)."""

    verdict: Verdict | None
    event: ProviderEvent
    reason: str = ""
    error: ConsumerError | None = None


def verified_event(envelope: WebhookEnvelope, secrets: Sequence[bytes]) -> ProviderEvent:
    """Re-verify the stored raw body and derive the event from it, never from envelope fields."""
    scheme = SCHEMES.get(envelope.provider)
    if scheme is None:
        raise PoisonMessage(f"unknown provider {envelope.provider!r}")
    body = envelope.body_bytes
    if not scheme.body_signed(envelope.signature_headers):
        raise PoisonMessage(
            f"{envelope.provider} event carries no body signature (hash-only); "
            "it needs confirmation with the provider"
        )
    try:
        scheme.verify(body, envelope.signature_headers, secrets, now=0, tolerance_seconds=None)
        return scheme.parse(body, envelope.signature_headers)
    except ContractError as exc:
        raise PoisonMessage(f"stored webhook fails re-verification: {exc}") from exc


def _view(payment: Payment) -> PaymentView:
    return PaymentView(
        payment.reference,
        payment.amount,
        payment.currency,
        PaymentState(payment.state),
        payment.credited,
    )


def _decide_all(items: Sequence[CreditItem], payments: dict[str, Payment]) -> list[CreditOutcome]:
    """Decide each event in order against the payment as the earlier events left it."""
    credited: set[str] = {ref for ref, payment in payments.items() if payment.credited}
    outcomes: list[CreditOutcome] = []
    for item in items:
        event = item.event
        skip = ignored(event)
        if skip is not None:
            outcomes.append(CreditOutcome(skip.verdict, event, skip.reason))
            continue
        payment = payments.get(event.reference)
        if payment is None:
            error = PaymentNotFound(f"no payment has reference {event.reference!r} yet")
            outcomes.append(CreditOutcome(None, event, str(error), error))
            continue
        view = _view(payment)
        if event.reference in credited:
            view = replace(view, state=PaymentState.COMPLETED, credited=True)
        decision = decide_credit(view, event)
        if decision.verdict is Verdict.APPLY:
            credited.add(event.reference)
        outcomes.append(CreditOutcome(decision.verdict, event, decision.reason))
    return outcomes


def credit_batch(uow: UnitOfWork, items: Sequence[CreditItem]) -> list[CreditOutcome]:
    """Settle `items` in one transaction; outcomes in the same order. Nothing is written for an
    event whose outcome carries an error (it is retried); rejections are flagged and recorded."""
    with uow:
        payments = uow.ledger.lock_payments(
            i.event.reference for i in items if i.event.is_successful_payment
        )
        outcomes = _decide_all(items, payments)
        to_apply = [o for o in outcomes if o.verdict is Verdict.APPLY]
        credits = [(payments[o.event.reference], o.event.event_id) for o in to_apply]
        uow.ledger.lock_wallets(payment.wallet_id for payment, _ in credits)
        uow.ledger.add_credits(credits)
        for outcome in outcomes:
            if outcome.verdict is Verdict.REJECT:
                uow.ledger.flag_payment(payments[outcome.event.reference].id, outcome.reason)
        uow.ledger.record_events(
            EventRecord(
                event_id=o.event.event_id,
                provider=item.envelope.provider,
                event_type=o.event.event_type,
                reference=o.event.reference,
                outcome=o.verdict.value,
                detail=o.reason or None,
            )
            for item, o in zip(items, outcomes, strict=True)
            if o.verdict is not None
        )
        uow.commit()
    return [_with_rejection_error(o) for o in outcomes]


def _with_rejection_error(outcome: CreditOutcome) -> CreditOutcome:
    if outcome.verdict is Verdict.REJECT:
        return CreditOutcome(
            outcome.verdict, outcome.event, outcome.reason, CreditMismatch(outcome.reason)
        )
    return outcome


def credit_payment(
    uow: UnitOfWork, envelope: WebhookEnvelope, event: ProviderEvent
) -> CreditOutcome:
    """One event: raises PaymentNotFound (retryable) or CreditMismatch (permanent, recorded)."""
    (outcome,) = credit_batch(uow, [CreditItem(envelope, event)])
    if outcome.error is not None:
        raise outcome.error
    return outcome
