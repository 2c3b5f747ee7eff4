"""Stripe's scheme: `t=…,v1=…` over "t.body", rotation, a tolerance window both ways."""

from __future__ import annotations

import json

import pytest

from payhooks_devtools.simulator.events import non_payment_body, webhook_body
from schemas.errors import MalformedPayload, SignatureInvalid, SignatureStale
from schemas.providers import SCHEMES
from tests.helpers import signed_headers

STRIPE = SCHEMES["stripe"]
NOW = 1_800_000_000.0
SECRET = "whsec_stripe_primary"


def test_genuine_event_verifies_and_parses_the_reference_from_metadata() -> None:
    body = webhook_body("stripe", "ref-s1", 12_345, "USD")
    headers = signed_headers("stripe", body, SECRET, now=NOW)

    STRIPE.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)
    event = STRIPE.parse(body, headers)

    assert (event.reference, event.amount, event.currency) == ("ref-s1", 12_345, "USD")
    assert event.event_id == json.loads(body)["id"]
    assert event.is_successful_payment


def test_checkout_session_completed_and_paid_is_a_success() -> None:
    body = json.dumps(
        {
            "id": "evt_cs",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "object": "checkout.session",
                    "amount_total": 900,
                    "currency": "ngn",
                    "payment_status": "paid",
                    "metadata": {"reference": "ref-cs"},
                }
            },
        }
    ).encode()
    event = STRIPE.parse(body, {})
    assert (event.reference, event.amount, event.currency) == ("ref-cs", 900, "NGN")
    assert event.is_successful_payment


def test_a_failed_payment_is_parsed_but_not_successful() -> None:
    event = STRIPE.parse(webhook_body("stripe", "ref-f", 100, "USD", succeeded=False), {})
    assert event.event_type == "payment_intent.payment_failed"
    assert not event.is_successful_payment


def test_an_event_about_no_payment_has_an_empty_reference() -> None:
    event = STRIPE.parse(non_payment_body("stripe"), {})
    assert (event.event_type, event.reference) == ("customer.created", "")
    assert not event.is_successful_payment


def test_old_and_new_secrets_both_verify_during_rotation() -> None:
    body = webhook_body("stripe", "ref-rot", 100, "USD")
    for secret in ("whsec_old", "whsec_new"):
        headers = signed_headers("stripe", body, secret, now=NOW)
        STRIPE.verify(body, headers, [b"whsec_new", b"whsec_old"], now=NOW, tolerance_seconds=300)


def test_any_of_several_v1_signatures_may_match() -> None:
    body = webhook_body("stripe", "ref-multi", 100, "USD")
    genuine = signed_headers("stripe", body, SECRET, now=NOW)["stripe-signature"]
    header = f"{genuine},v1={'0' * 64}"
    STRIPE.verify(
        body, {"stripe-signature": header}, [SECRET.encode()], now=NOW, tolerance_seconds=1
    )


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamps_exactly_at_the_tolerance_are_accepted(offset: int) -> None:
    body = webhook_body("stripe", "ref-edge", 100, "USD")
    headers = signed_headers("stripe", body, SECRET, now=NOW + offset)
    STRIPE.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
def test_timestamps_one_second_past_the_tolerance_are_refused(offset: int) -> None:
    body = webhook_body("stripe", "ref-edge", 100, "USD")
    headers = signed_headers("stripe", body, SECRET, now=NOW + offset)
    with pytest.raises(SignatureStale):
        STRIPE.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


def test_no_tolerance_skips_the_window_for_re_verification() -> None:
    body = webhook_body("stripe", "ref-old", 100, "USD")
    headers = signed_headers("stripe", body, SECRET, now=NOW - 86_400)
    STRIPE.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=None)


@pytest.mark.parametrize(
    "header",
    ["", "t=1800000000", f"v1={'a' * 64}", f"t=abc,v1={'a' * 64}", f"t=1800000000,v1={'a' * 64}"],
    ids=["empty", "no-v1", "no-t", "bad-t", "wrong"],
)
def test_missing_malformed_or_wrong_headers_are_refused(header: str) -> None:
    body = webhook_body("stripe", "r", 100, "USD")
    with pytest.raises(SignatureInvalid):
        STRIPE.verify(
            body, {"stripe-signature": header}, [SECRET.encode()], now=NOW, tolerance_seconds=300
        )


def test_a_body_changed_after_signing_is_refused() -> None:
    headers = signed_headers("stripe", webhook_body("stripe", "r", 100, "USD"), SECRET, now=NOW)
    with pytest.raises(SignatureInvalid):
        STRIPE.verify(
            webhook_body("stripe", "r", 100_000, "USD"),
            headers,
            [SECRET.encode()],
            now=NOW,
            tolerance_seconds=300,
        )


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": '
        b'{"status": "succeeded", "amount_received": 5, "currency": "usd"}}}',
    ],
    ids=["not-an-object", "no-data", "success-without-reference"],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(MalformedPayload, match="stripe"):
        STRIPE.parse(body, {})


# Published vector: stripe-dotnet's EventUtilityTest (src/StripeTests/Services/Events/), the body
# is its src/StripeTests/Resources/event_test_signature.json, secret "webhook_secret".
STRIPE_DOTNET_BODY = (
    b'{\n  "id": "evt_123",\n  "object": "event",\n  "account": "acct_123",\n'
    b'  "api_version": "2017-05-25",\n  "created": 1533204620,\n  "data": {\n    "object": {\n'
    b'      "id": "cus_123",\n      "object": "customer",\n      "created": 123456789,\n'
    b'      "email": "test@stripe.com",\n      "livemode": false,\n      "metadata": {}\n'
    b'    }\n  },\n  "livemode": false,\n  "pending_webhooks": 1,\n  "request": {\n'
    b'    "id": "req_123",\n    "idempotency_key": "idempotency-key-123"\n  },\n'
    b'  "type": "customer.created"\n}\n'
)
STRIPE_DOTNET_HEADER = (
    "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,"
    "v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
)


def test_the_stripe_sdk_published_vector_verifies_and_a_changed_body_does_not() -> None:
    headers = {"stripe-signature": STRIPE_DOTNET_HEADER}
    verified = STRIPE.verify(
        STRIPE_DOTNET_BODY, headers, [b"webhook_secret"], now=1533204720, tolerance_seconds=300
    )
    assert (verified.scheme, verified.secret_label) == ("stripe-v1", "secret-1")
    with pytest.raises(SignatureInvalid):
        STRIPE.verify(
            STRIPE_DOTNET_BODY + b"this_changes_the_json",
            headers,
            [b"webhook_secret"],
            now=1533204720,
            tolerance_seconds=300,
        )
    with pytest.raises(SignatureStale):
        STRIPE.verify(
            STRIPE_DOTNET_BODY,
            headers,
            [b"webhook_secret"],
            now=1533204620 + 400,
            tolerance_seconds=300,
        )
