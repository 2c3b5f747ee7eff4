"""The seed's `credit_user`: one webhook event, one PostgreSQL transaction, at most one credit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consumer.domain.credit import CreditDecision, PaymentView, Verdict, decide_credit
from consumer.domain.errors import CreditMismatch, PaymentNotFound, PoisonMessage
from consumer.domain.state_machine import PaymentState
from consumer.service_layer.unit_of_work import UnitOfWork
from schemas.envelope import WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES, ProviderEvent


@dataclass(frozen=True, slots=True)
class CreditOutcome:
    verdict: Verdict
    event: ProviderEvent
    reason: str = ""


def verified_event(envelope: WebhookEnvelope, secrets: Sequence[bytes]) -> ProviderEvent:
    """Re-verify the stored raw body and derive the event from it, never from envelope fields."""
    scheme = SCHEMES.get(envelope.provider)
    if scheme is None:
        raise PoisonMessage(f"unknown provider {envelope.provider!r}")
    body = envelope.body_bytes
    try:
        scheme.verify(body, envelope.signature_headers, secrets, now=0, tolerance_seconds=None)
        return scheme.parse(body, envelope.signature_headers)
    except ContractError as exc:
        raise PoisonMessage(f"stored webhook fails re-verification: {exc}") from exc


def credit_payment(
    uow: UnitOfWork, envelope: WebhookEnvelope, event: ProviderEvent
) -> CreditOutcome:
    """Lock the payment, decide, credit under the wallet's lock, commit: all or nothing."""
    with uow:
        payment = uow.ledger.lock_payment(event.reference)
        if payment is None:
            raise PaymentNotFound(f"no payment has reference {event.reference!r} yet")
        view = PaymentView(
            payment.reference,
            payment.amount,
            payment.currency,
            PaymentState(payment.state),
            payment.credited,
        )
        decision: CreditDecision = decide_credit(view, event)
        if decision.verdict is Verdict.APPLY:
            uow.ledger.add_credit(
                payment, uow.ledger.lock_wallet(payment.wallet_id), event.event_id
            )
        elif decision.verdict is Verdict.REJECT:
            uow.ledger.flag_payment(payment.id, decision.reason)
        uow.ledger.record_event(
            event_id=event.event_id,
            provider=envelope.provider,
            event_type=event.event_type,
            reference=event.reference,
            outcome=decision.verdict.value,
            detail=decision.reason or None,
        )
        uow.commit()
    if decision.verdict is Verdict.REJECT:
        raise CreditMismatch(decision.reason)
    return CreditOutcome(decision.verdict, event, decision.reason)
