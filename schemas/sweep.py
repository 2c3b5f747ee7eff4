"""The sweep's claim: "the provider's verify API says this payment is paid", as an envelope on
`<prefix>.webhooks` like any webhook (one credit path).

A claim carries no provider signature: anyone who can write to the topic could write one. It is
trusted for nothing by itself. The consumer asks the provider's verify API again before it
credits (consumer/service_layer/sweep_claims.py), so a forged claim credits only a payment the
provider itself confirms as paid, for the initialized amount — one that is owed the credit anyway,
and still at most once (the ledger's UNIQUE keys). docs/lifecycle.md has the reasoning.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import WebhookEnvelope, encode_body
from schemas.errors import MalformedEnvelope
from schemas.providers.base import (
    Currency,
    MinorUnits,
    ProviderEvent,
    ProviderId,
    Reference,
    deterministic_event_id,
)

SWEEP_EVENT_TYPE = "payhooks.sweep.paid"


class SweepClaim(BaseModel):
    """What the sweep read from the provider's verify API for one payment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    reference: Reference
    amount: MinorUnits
    currency: Currency
    transaction_id: ProviderId | None = None
    swept_at: datetime


def is_sweep_claim(envelope: WebhookEnvelope) -> bool:
    return envelope.event_type == SWEEP_EVENT_TYPE


def sweep_envelope(provider: str, claim: SweepClaim) -> WebhookEnvelope:
    """One id per payment: every sweep of the same payment publishes the same event id."""
    return WebhookEnvelope(
        event_id=deterministic_event_id(provider, SWEEP_EVENT_TYPE, claim.reference),
        provider=provider,
        event_type=SWEEP_EVENT_TYPE,
        reference=claim.reference,
        amount=claim.amount,
        currency=claim.currency,
        provider_status="succeeded",
        received_at=claim.swept_at,
        raw_body=encode_body(claim.model_dump_json().encode()),
        signature_headers={},
    )


def read_claim(envelope: WebhookEnvelope) -> SweepClaim:
    try:
        return SweepClaim.model_validate_json(envelope.body_bytes)
    except (ValidationError, ValueError) as exc:
        raise MalformedEnvelope(f"not a sweep claim: {exc}") from exc


def claim_event(envelope: WebhookEnvelope, claim: SweepClaim) -> ProviderEvent:
    """The claim as a successful-payment event (to be confirmed before it may credit)."""
    return ProviderEvent(
        event_id=envelope.event_id,
        event_type=SWEEP_EVENT_TYPE,
        reference=claim.reference,
        amount=claim.amount,
        currency=claim.currency,
        provider_status="succeeded",
        occurred_at=claim.swept_at,
        is_successful_payment=True,
        transaction_id=claim.transaction_id,
        provider_txn_id=claim.transaction_id if envelope.provider == "stripe" else None,
    )
