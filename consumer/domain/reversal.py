"""The reversal rule: a refund or lost dispute against a locked payment. Pure.

A reversal debits the wallet once per provider refund/dispute id, only once the payment was
credited (before that it waits in retry, like any early event), never beyond what is left of the
credit. The state after it: `charged_back` once any dispute is lost (it stays so), else `refunded`
when the whole amount went back, else `partially_refunded`.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumer.domain.credit import PaymentView, Verdict
from consumer.domain.errors import ReversalBeforeCredit
from consumer.domain.state_machine import PaymentState
from schemas.providers.base import ProviderEvent, Reversal, ReversalKind


@dataclass(frozen=True, slots=True)
class ReversalDecision:
    """APPLY-like `Verdict.REVERSE`, `DUPLICATE`, `REJECT`; or `wait` (not credited yet)."""

    verdict: Verdict | None
    reason: str = ""
    wait: ReversalBeforeCredit | None = None


def state_after(payment: PaymentView, kind: ReversalKind, amount: int) -> PaymentState:
    if kind is ReversalKind.CHARGEBACK or payment.state is PaymentState.CHARGED_BACK:
        return PaymentState.CHARGED_BACK
    if payment.refunded_amount + amount == payment.amount:
        return PaymentState.REFUNDED
    return PaymentState.PARTIALLY_REFUNDED


def reversed_view(payment: PaymentView, kind: ReversalKind, amount: int) -> PaymentView:
    """The payment as it is once this reversal applied (for later events of the same batch)."""
    return payment._replace(
        state=state_after(payment, kind, amount),
        refunded_amount=payment.refunded_amount + amount,
    )


def decide_reversal(
    payment: PaymentView, event: ProviderEvent, *, provider: str, already_applied: bool
) -> ReversalDecision:
    """`already_applied`: a ledger row already exists for this provider's reversal id."""
    reversal: Reversal | None = event.reversal
    assert reversal is not None  # only reversal events are decided here
    if already_applied:
        return ReversalDecision(Verdict.DUPLICATE, f"{reversal.reversal_id} was already applied")
    return _unapplicable(payment, reversal, provider) or _over_amount(payment, event, reversal)


def _unapplicable(
    payment: PaymentView, reversal: Reversal, provider: str
) -> ReversalDecision | None:
    if payment.provider and provider != payment.provider:
        return _reject(f"a {provider} {reversal.kind} cannot reverse a {payment.provider} payment")
    if payment.credited:
        return None
    if payment.state is PaymentState.FAILED:
        return _reject(f"the payment is {payment.state} and was never credited")
    return ReversalDecision(
        None,
        wait=ReversalBeforeCredit(
            f"{reversal.kind} {reversal.reversal_id} names payment {payment.reference!r}, "
            "which is not credited yet"
        ),
    )


def _over_amount(
    payment: PaymentView, event: ProviderEvent, reversal: Reversal
) -> ReversalDecision:
    amount = event.amount or 0
    if event.currency != payment.currency:
        return _reject(
            f"the {reversal.kind} is in {event.currency} but the payment in {payment.currency}"
        )
    left = payment.amount - payment.refunded_amount
    if amount <= 0 or amount > left:
        return _reject(
            f"the {reversal.kind} of {amount} {event.currency} exceeds the {left} left of the "
            f"{payment.amount} credited"
        )
    return ReversalDecision(Verdict.REVERSE)


def _reject(reason: str) -> ReversalDecision:
    return ReversalDecision(Verdict.REJECT, reason)
