"""The credit rule and the payment state machine, as pure functions."""

from __future__ import annotations

import pytest

from consumer.domain.credit import PaymentView, Verdict, decide_credit
from consumer.domain.errors import IllegalTransition
from consumer.domain.state_machine import PaymentState, path_to, transition
from schemas.providers import ProviderEvent


def event(amount: int = 1000, currency: str = "NGN", success: bool = True) -> ProviderEvent:
    return ProviderEvent(
        "evt",
        "charge.success" if success else "charge.failed",
        "ref",
        amount,
        currency,
        "success" if success else "failed",
        None,
        success,
    )


def payment(state: PaymentState = PaymentState.PROCESSING, credited: bool = False) -> PaymentView:
    return PaymentView("ref", 1000, "NGN", state, credited)


def test_a_matching_success_event_is_applied() -> None:
    assert decide_credit(payment(), event()).verdict is Verdict.APPLY


def test_a_pending_payment_can_still_be_credited() -> None:
    assert decide_credit(payment(PaymentState.PENDING), event()).verdict is Verdict.APPLY


def test_an_already_credited_payment_is_a_duplicate() -> None:
    decision = decide_credit(payment(PaymentState.COMPLETED, credited=True), event())
    assert decision.verdict is Verdict.DUPLICATE


@pytest.mark.parametrize(("amount", "currency"), [(999, "NGN"), (1000, "USD"), (1001, "NGN")])
def test_amount_or_currency_mismatch_is_rejected(amount: int, currency: str) -> None:
    decision = decide_credit(payment(), event(amount, currency))
    assert decision.verdict is Verdict.REJECT
    assert "initialized for 1000 NGN" in decision.reason


def test_a_failed_payment_is_never_credited() -> None:
    assert decide_credit(payment(PaymentState.FAILED), event()).verdict is Verdict.REJECT


def test_events_that_are_not_successful_payments_credit_nothing() -> None:
    assert decide_credit(payment(), event(success=False)).verdict is Verdict.IGNORE


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (PaymentState.PENDING, PaymentState.PROCESSING),
        (PaymentState.PENDING, PaymentState.FAILED),
        (PaymentState.PROCESSING, PaymentState.COMPLETED),
        (PaymentState.PROCESSING, PaymentState.FAILED),
    ],
)
def test_legal_transitions(current: PaymentState, target: PaymentState) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (PaymentState.COMPLETED, PaymentState.FAILED),
        (PaymentState.FAILED, PaymentState.COMPLETED),
        (PaymentState.COMPLETED, PaymentState.PROCESSING),
        (PaymentState.PROCESSING, PaymentState.PENDING),
    ],
)
def test_illegal_transitions_raise(current: PaymentState, target: PaymentState) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, target)


def test_pending_completes_through_processing() -> None:
    assert path_to(PaymentState.PENDING, PaymentState.COMPLETED) == (
        PaymentState.PROCESSING,
        PaymentState.COMPLETED,
    )
