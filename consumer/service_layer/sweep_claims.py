"""A sweep claim becomes a credit item only once the provider's verify API confirms it again.

Outside any database transaction (an HTTP call never holds a row lock). The provider not
answering is transient (retry topics); the provider not confirming the claim — not paid, another
amount, another reference — is permanent (DLQ): the sweep only publishes what the provider
confirmed, so such a claim was forged or the payment was reversed since.
"""

from __future__ import annotations

from consumer.domain.errors import ConfirmationMismatch, ConfirmationUnavailable, PoisonMessage
from consumer.service_layer.credit import CreditItem
from kernel.provider_verify import ProviderUnreachable, ProviderVerifier
from schemas.envelope import WebhookEnvelope
from schemas.errors import MalformedEnvelope
from schemas.providers.confirm import disagreement
from schemas.sweep import claim_event, read_claim


def confirmed_claim(envelope: WebhookEnvelope, verifier: ProviderVerifier | None) -> CreditItem:
    """Raise PoisonMessage (unreadable, no verifier), ConfirmationUnavailable (ask again) or
    ConfirmationMismatch (the provider does not back it); else the item to settle."""
    try:
        claim = read_claim(envelope)
    except MalformedEnvelope as exc:
        raise PoisonMessage(str(exc)) from exc
    if verifier is None:
        raise PoisonMessage("a sweep claim needs the provider's verify API; none is configured")
    event = claim_event(envelope, claim)
    try:
        confirmation = verifier.confirm(
            envelope.provider, claim.reference, transaction_id=claim.transaction_id
        )
    except ProviderUnreachable as exc:
        raise ConfirmationUnavailable(str(exc)) from exc
    reason = disagreement(
        confirmation, reference=claim.reference, amount=claim.amount, currency=claim.currency
    )
    if reason is not None:
        raise ConfirmationMismatch(f"sweep claim not confirmed: {reason}")
    return CreditItem(envelope, event)
