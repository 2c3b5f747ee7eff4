"""The reversal rule and each provider's refund / lost-dispute events, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.domain.credit import PaymentView, Verdict, decide_credit
from consumer.domain.errors import ReversalBeforeCredit
from consumer.domain.reversal import decide_reversal, reversed_view
from consumer.domain.state_machine import PaymentState
from payhooks_devtools.simulator.events import reversal_body
from schemas.errors import MalformedPayload
from schemas.providers import SCHEMES, ProviderEvent
from schemas.providers.base import Reversal, ReversalKind


def payment(
    state: PaymentState = PaymentState.COMPLETED, credited: bool = True, refunded: int = 0
) -> PaymentView:
    return PaymentView("ref", 1000, "NGN", state, credited, refunded, "paystack")


def reversal(amount: int, kind: ReversalKind = ReversalKind.REFUND, currency: str = "NGN") -> Any:
    return ProviderEvent(
        "evt",
        "refund.processed",
        "ref",
        amount,
        currency,
        "processed",
        None,
        False,
        reversal=Reversal(kind, "RF-1"),
    )


def decide(view: PaymentView, event: ProviderEvent, applied: bool = False) -> Any:
    return decide_reversal(view, event, provider="paystack", already_applied=applied)


def test_a_refund_of_a_credited_payment_reverses() -> None:
    assert decide(payment(), reversal(400)).verdict is Verdict.REVERSE


def test_the_same_refund_id_again_is_a_duplicate() -> None:
    assert decide(payment(), reversal(400), applied=True).verdict is Verdict.DUPLICATE


@pytest.mark.parametrize("state", [PaymentState.PENDING, PaymentState.PROCESSING])
def test_a_refund_before_the_credit_waits(state: PaymentState) -> None:
    decision = decide(payment(state, credited=False), reversal(400))
    assert decision.verdict is None
    assert isinstance(decision.wait, ReversalBeforeCredit)


@pytest.mark.parametrize(
    ("view", "event"),
    [
        (payment(refunded=700), reversal(400)),  # beyond what is left
        (payment(), reversal(1001)),
        (payment(), reversal(400, currency="USD")),
        (payment(PaymentState.FAILED, credited=False), reversal(400)),
    ],
    ids=["beyond-what-is-left", "beyond-the-amount", "other-currency", "failed-payment"],
)
def test_reversals_that_cannot_apply_are_rejected(view: PaymentView, event: Any) -> None:
    assert decide(view, event).verdict is Verdict.REJECT


def test_another_providers_refund_is_rejected() -> None:
    decision = decide_reversal(payment(), reversal(400), provider="stripe", already_applied=False)
    assert decision.verdict is Verdict.REJECT


@pytest.mark.parametrize(
    ("refunded", "amount", "kind", "after"),
    [
        (0, 400, ReversalKind.REFUND, PaymentState.PARTIALLY_REFUNDED),
        (600, 400, ReversalKind.REFUND, PaymentState.REFUNDED),
        (0, 1000, ReversalKind.REFUND, PaymentState.REFUNDED),
        (0, 300, ReversalKind.CHARGEBACK, PaymentState.CHARGED_BACK),
    ],
)
def test_the_state_after_a_reversal(
    refunded: int, amount: int, kind: ReversalKind, after: PaymentState
) -> None:
    view = reversed_view(payment(refunded=refunded), kind, amount)
    assert (view.state, view.refunded_amount) == (after, refunded + amount)


def test_a_success_after_a_reversal_never_credits_again() -> None:
    refunded = reversed_view(payment(), ReversalKind.REFUND, 1000)
    success = ProviderEvent("e2", "charge.success", "ref", 1000, "NGN", "success", None, True)
    assert decide_credit(refunded, success).verdict is Verdict.DUPLICATE


# --- each provider's events --------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["paystack", "stripe", "flutterwave", "standard"])
@pytest.mark.parametrize("kind", [ReversalKind.REFUND, ReversalKind.CHARGEBACK])
def test_each_provider_reversal_parses_to_its_id_amount_and_payment(
    provider: str, kind: ReversalKind
) -> None:
    body = reversal_body(provider, "ord-1", 2550, "NGN", reversal_id="R-9", kind=kind.value)
    event = SCHEMES[provider].parse(body, {"webhook-id": "msg_1"})
    assert event.reversal is not None
    assert event.reversal.kind is kind
    other = reversal_body(provider, "ord-1", 2550, "NGN", reversal_id="R-10", kind=kind.value)
    other_event = SCHEMES[provider].parse(other, {"webhook-id": "msg_2"})
    assert other_event.reversal is not None
    assert event.reversal.reversal_id != other_event.reversal.reversal_id  # keyed by the id
    assert (event.amount, event.currency, event.is_successful_payment) == (2550, "NGN", False)
    if provider == "stripe":  # Stripe names the PaymentIntent, not our reference
        assert (event.reference, event.provider_txn_id) == ("", "pi_ord-1")
    else:
        assert event.reference == "ord-1"


def _stripe(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"id": "evt_1", "type": event_type, "data": {"object": obj}}).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_stripe("refund.created", {"id": "re_1", "amount": 5, "currency": "usd",
                                    "payment_intent": "pi_1", "status": "pending"}), None),
        (_stripe("refund.updated", {"id": "re_1", "amount": 5, "currency": "usd",
                                    "payment_intent": "pi_1", "status": "succeeded"}), "re_1"),
        (_stripe("charge.refunded", {"id": "ch_1", "amount": 9, "currency": "usd",
                                     "payment_intent": "pi_1", "refunds": {"data": [
                                         {"id": "re_2", "amount": 4, "status": "succeeded"},
                                         {"id": "re_1", "amount": 5, "status": "succeeded"}]}}),
         "re_2"),
        (_stripe("charge.refunded", {"id": "ch_1", "amount": 9, "currency": "usd",
                                     "payment_intent": "pi_1"}), None),
        (_stripe("charge.dispute.closed", {"id": "dp_1", "amount": 9, "currency": "usd",
                                           "payment_intent": "pi_1", "status": "won"}), None),
        (_stripe("charge.dispute.closed", {"id": "dp_1", "amount": 9, "currency": "usd",
                                           "payment_intent": "pi_1", "status": "lost"}), "dp_1"),
    ],
    ids=["refund-pending", "refund-succeeded", "charge-refunded-newest", "charge-refunded-no-list",
         "dispute-won", "dispute-lost"],
)  # fmt: skip
def test_stripe_reverses_only_money_that_went_back(body: bytes, expected: str | None) -> None:
    event = SCHEMES["stripe"].parse(body, {})
    assert (event.reversal.reversal_id if event.reversal else None) == expected


@pytest.mark.parametrize(("resolution", "lost"), [("merchant-accepted", True), ("declined", False)])
def test_a_paystack_dispute_reverses_only_when_lost(resolution: str, lost: bool) -> None:
    body = json.loads(
        reversal_body("paystack", "r", 100, "NGN", reversal_id="D", kind="chargeback")
    )
    body["data"]["resolution"] = resolution
    event = SCHEMES["paystack"].parse(json.dumps(body).encode(), {})
    assert (event.reversal is not None) is lost


@pytest.mark.parametrize("provider", ["paystack", "standard"])
def test_a_refund_without_its_id_or_payment_is_malformed(provider: str) -> None:
    body = json.loads(reversal_body(provider, "r", 100, "NGN", reversal_id="X"))
    data = body["data"]
    for key in ("refund_reference", "refund_id", "transaction_reference", "id"):
        data.pop(key, None)
    with pytest.raises(MalformedPayload):
        SCHEMES[provider].parse(json.dumps(body).encode(), {"webhook-id": "msg_1"})


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("paystack", {"event": "charge.dispute.create", "data": {"id": 7, "status": "pending",
                      "transaction": {"reference": "r"}}}),
        ("stripe", {"id": "evt_d", "type": "charge.dispute.created", "data": {"object": {
                    "id": "dp_1", "amount": 9, "currency": "usd", "status": "needs_response"}}}),
        ("flutterwave", {"event": "chargeback.created", "data": {"id": 5, "tx_ref": "r",
                         "amount": 10, "currency": "NGN", "status": "initiated"}}),
    ],
)  # fmt: skip
def test_a_dispute_opened_is_recorded_and_reverses_nothing(provider: str, body: Any) -> None:
    event = SCHEMES[provider].parse(json.dumps(body).encode(), {})
    assert event.reversal is None
    assert not event.is_successful_payment  # the consumer records it as `ignored`


# --- invariants over any order and any number of deliveries (Hypothesis) ------------------------

refund_plans = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 600)), min_size=1, max_size=12
)


@given(plan=refund_plans, credit_at=st.integers(0, 12))
def test_any_order_of_refunds_and_redeliveries_debits_each_id_once_within_the_credit(
    plan: list[tuple[str, int]], credit_at: int
) -> None:
    """Refund ids each carry one amount (a provider's refund does not change); deliveries come
    in any order, any number of times, some before the success."""
    amounts = {rid: amount for rid, amount in plan}
    view = payment(PaymentState.PROCESSING, credited=False)
    applied: dict[str, int] = {}
    waiting = 0
    for index, (rid, _) in enumerate(plan):
        if index == credit_at:
            view = payment()
        event = ProviderEvent(
            f"e{index}", "refund.processed", "ref", amounts[rid], "NGN", "processed", None,
            False, reversal=Reversal(ReversalKind.REFUND, rid),
        )  # fmt: skip
        decision = decide(view, event, applied=rid in applied)
        if decision.verdict is Verdict.REVERSE:
            applied[rid] = amounts[rid]
            view = reversed_view(view, ReversalKind.REFUND, amounts[rid])
        waiting += decision.wait is not None
    assert sum(applied.values()) == view.refunded_amount <= view.amount
    assert waiting == 0 or credit_at > 0  # only deliveries before the success wait
    if view.refunded_amount == view.amount:
        assert view.state is PaymentState.REFUNDED
    elif applied:
        assert view.state is PaymentState.PARTIALLY_REFUNDED
