"""The credit rule: given a locked payment and a verified event, what should happen."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from consumer.domain.state_machine import PaymentState, path_to
from schemas.providers import ProviderEvent


class Verdict(StrEnum):
    APPLY = "applied"
    REVERSE = "reversed"
    DUPLICATE = "duplicate"
    REJECT = "rejected"
    IGNORE = "ignored"


class PaymentView(NamedTuple):
    """A locked payment as the credit rule sees it (a named tuple: one or two per record)."""

    reference: str
    amount: int
    currency: str
    state: PaymentState
    credited: bool
    refunded_amount: int = 0
    provider: str = ""

    def credited_now(self) -> PaymentView:
        """The payment as an applied credit leaves it."""
        return PaymentView(
            self.reference,
            self.amount,
            self.currency,
            PaymentState.COMPLETED,
            True,  # credited
            self.refunded_amount,
            self.provider,
        )


class CreditDecision(NamedTuple):
    verdict: Verdict
    reason: str = ""


def ignored(event: ProviderEvent) -> CreditDecision | None:
    """Events other than a successful payment or a reversal never change a payment or a balance:
    they are recorded and acknowledged, whether or not the payment exists (docs/consumer.md)."""
    if event.is_successful_payment or event.reversal is not None:
        return None
    return CreditDecision(
        Verdict.IGNORE, f"{event.event_type} (status {event.provider_status}) credits nothing"
    )


def binding_problem(
    payment_provider: str,
    payment_transaction_id: str | None,
    event_provider: str,
    event: ProviderEvent,
) -> str | None:
    """Why this event may not touch this payment: it comes from another provider than the one
    the payment was initialized with, or names another provider transaction than the one
    already bound to it. None when it may (the payment's own provider, same or unknown txn)."""
    if event_provider != payment_provider:
        return (
            f"a {event_provider} event names a payment initialized with {payment_provider}; "
            "only the payment's own provider can settle it"
        )
    known, named = payment_transaction_id, event.provider_txn_id
    if known and named and known != named:
        return f"the event names {event_provider} transaction {named!r}, the payment is {known!r}"
    return None


def decide_credit(payment: PaymentView, event: ProviderEvent) -> CreditDecision:
    """Apply exactly when a successful payment event matches an uncredited payment exactly."""
    skip = ignored(event)
    if skip is not None:
        return skip
    if payment.credited:
        return CreditDecision(Verdict.DUPLICATE, "the payment was already credited")
    if event.amount != payment.amount or event.currency != payment.currency:
        return CreditDecision(
            Verdict.REJECT,
            f"the event says {event.amount} {event.currency} but the payment was initialized "
            f"for {payment.amount} {payment.currency}",
        )
    if payment.state in (PaymentState.COMPLETED, PaymentState.FAILED):
        return CreditDecision(
            Verdict.REJECT, f"the payment is {payment.state}; a success event cannot credit it"
        )
    path_to(payment.state, PaymentState.COMPLETED)
    return CreditDecision(Verdict.APPLY)
