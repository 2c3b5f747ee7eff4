"""The verify client against the simulator's verify endpoints (which answer truthfully: pending
until paid), and the readers against answers shaped like the providers' documented ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from kernel.provider_verify import HttpProviderVerifier, ProviderUnreachable
from kernel.settings import PROVIDERS, Settings
from payhooks_devtools.simulator.app import SimulatedPayment, build_simulator
from schemas.providers.confirm import (
    Confirmation,
    ConfirmedStatus,
    UnreadableAnswer,
    disagreement,
    read_answer,
)
from tests.gateway_support import serving


@contextmanager
def _verifier(*paid: SimulatedPayment) -> Iterator[HttpProviderVerifier]:
    """A verifier pointed at a real simulator (uvicorn in a thread) that knows `paid`."""
    app = build_simulator(Settings(), "http://127.0.0.1")
    for payment in paid:
        app.state.simulator.payments[payment.reference] = payment
    with serving(app) as base:
        settings = Settings.model_validate({f"{p}_api_base": f"{base}/{p}" for p in PROVIDERS})
        verifier = HttpProviderVerifier(settings)
        yield verifier
        verifier.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_pending_until_paid_then_succeeded_with_amount_in_minor_units(provider: str) -> None:
    payment = SimulatedPayment(provider, f"ref-{provider}", 150_050, "NGN", "a@example.com")
    txn = f"pi_{payment.reference}" if provider == "stripe" else None
    with _verifier(payment) as verifier:
        before = verifier.confirm(provider, payment.reference, transaction_id=txn)
        payment.status = "success"
        after = verifier.confirm(provider, payment.reference, transaction_id=txn)

    assert before.status is ConfirmedStatus.PENDING
    assert after.status is ConfirmedStatus.SUCCEEDED
    assert (after.reference, after.amount, after.currency) == (payment.reference, 150_050, "NGN")
    assert disagreement(after, reference=payment.reference, amount=150_050, currency="NGN") is None


def test_stripe_without_an_object_id_searches_by_reference() -> None:
    payment = SimulatedPayment("stripe", "ref-search", 900, "USD", "", status="success")
    with _verifier(payment) as verifier:
        found = verifier.confirm("stripe", "ref-search")
        missing = verifier.confirm("stripe", "ref-other")
    assert (found.status, found.amount, found.currency) == (ConfirmedStatus.SUCCEEDED, 900, "USD")
    assert missing.status is ConfirmedStatus.NOT_FOUND


def test_unknown_reference_is_not_found() -> None:
    with _verifier() as verifier:
        assert verifier.confirm("paystack", "nope").status is ConfirmedStatus.NOT_FOUND


@pytest.mark.parametrize("status", [500, 502, 429, 401])
def test_an_error_answer_is_unreachable_never_a_confirmation(status: int) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json={"status": False}))
    verifier = HttpProviderVerifier(Settings(), httpx.Client(transport=transport))
    with pytest.raises(ProviderUnreachable):
        verifier.confirm("paystack", "ref")


def test_a_connection_error_or_garbage_is_unreachable() -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    down = HttpProviderVerifier(Settings(), httpx.Client(transport=httpx.MockTransport(refuse)))
    garbage = HttpProviderVerifier(
        Settings(),
        httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, text="<html>"))),
    )
    with pytest.raises(ProviderUnreachable):
        down.confirm("flutterwave", "ref")
    with pytest.raises(ProviderUnreachable):
        garbage.confirm("flutterwave", "ref")


# Shapes from the providers' API references (Paystack "Verify Transaction", Flutterwave
# "Verify transaction by reference", Stripe PaymentIntent object).
PAYSTACK_DOC = {
    "status": True,
    "message": "Verification successful",
    "data": {
        "id": 4099260516,
        "status": "success",
        "reference": "re4lyvq3s3",
        "amount": 40333,
        "currency": "NGN",
    },
}
FLUTTERWAVE_DOC = {
    "status": "success",
    "message": "Transaction fetched successfully",
    "data": {
        "id": 4975363,
        "tx_ref": "1710840858755-RND_83",
        "flw_ref": "FLW-MOCK-1710840858755",
        "amount": 1000.5,
        "currency": "NGN",
        "status": "successful",
    },
}
STRIPE_DOC = {
    "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "object": "payment_intent",
    "amount": 2000,
    "amount_received": 2000,
    "currency": "usd",
    "status": "succeeded",
    "metadata": {"reference": "order-1"},
}


@pytest.mark.parametrize(
    ("provider", "answer", "expected"),
    [
        ("paystack", PAYSTACK_DOC, ("re4lyvq3s3", 40333, "NGN", "4099260516")),
        ("flutterwave", FLUTTERWAVE_DOC, ("1710840858755-RND_83", 100050, "NGN", "4975363")),
        ("stripe", STRIPE_DOC, ("order-1", 2000, "USD", "pi_3MtwBwLkdIwHu7ix28a3tqPa")),
    ],
)
def test_documented_answers_read_in_minor_units(
    provider: str, answer: object, expected: tuple[str, int, str, str]
) -> None:
    confirmation = read_answer(provider, answer)
    assert confirmation.status is ConfirmedStatus.SUCCEEDED
    assert (
        confirmation.reference,
        confirmation.amount,
        confirmation.currency,
        confirmation.transaction_id,
    ) == expected


@pytest.mark.parametrize(
    ("reference", "amount", "currency"),
    [("other", 40333, "NGN"), ("re4lyvq3s3", 40334, "NGN"), ("re4lyvq3s3", 40333, "GHS")],
)
def test_any_disagreement_is_reported(reference: str, amount: int, currency: str) -> None:
    confirmation = read_answer("paystack", PAYSTACK_DOC)
    assert disagreement(confirmation, reference=reference, amount=amount, currency=currency)


def test_a_not_successful_confirmation_never_agrees() -> None:
    pending = Confirmation("paystack", "r", ConfirmedStatus.PENDING, 1, "NGN")
    assert disagreement(pending, reference="r", amount=1, currency="NGN")


def test_answers_that_are_not_objects_are_unreadable() -> None:
    with pytest.raises(UnreadableAnswer):
        read_answer("paystack", {"status": True, "data": ["x"]})
