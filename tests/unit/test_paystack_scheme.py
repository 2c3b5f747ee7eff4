"""Paystack's scheme: HMAC-SHA512 over the raw body, any configured secret, constant time."""

from __future__ import annotations

import pytest

from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers import SCHEMES
from tests.helpers import paystack_body, signed_headers

PAYSTACK = SCHEMES["paystack"]


def test_genuine_signature_verifies_and_parses() -> None:
    body = paystack_body("ref-1", 12_345, "NGN")
    headers = signed_headers("paystack", body, "sk_new")

    PAYSTACK.verify(body, headers, [b"sk_new"], now=0, tolerance_seconds=300)
    event = PAYSTACK.parse(body, headers)

    assert (event.reference, event.amount, event.currency) == ("ref-1", 12_345, "NGN")
    assert event.is_successful_payment


def test_any_configured_secret_verifies_during_rotation() -> None:
    body = paystack_body("ref-rot")
    for secret in ("sk_old", "sk_new"):
        PAYSTACK.verify(
            body,
            signed_headers("paystack", body, secret),
            [b"sk_new", b"sk_old"],
            now=0,
            tolerance_seconds=300,
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-paystack-signature": ""}, {"x-paystack-signature": "00" * 64}],
    ids=["missing", "empty", "wrong"],
)
def test_missing_or_wrong_signature_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        PAYSTACK.verify(paystack_body("r"), headers, [b"sk"], now=0, tolerance_seconds=300)


def test_a_body_changed_after_signing_is_refused() -> None:
    body = paystack_body("ref-2", 100)
    headers = signed_headers("paystack", body, "sk")
    with pytest.raises(SignatureInvalid):
        PAYSTACK.verify(
            paystack_body("ref-2", 100_000), headers, [b"sk"], now=0, tolerance_seconds=300
        )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"event": "charge.success", "data": {"reference": "r", '
        b'"amount": 10.5, "currency": "NGN"}}',
        b'{"event": "charge.success", "data": '
        b'{"reference": "r", "amount": 10, "currency": "naira"}}',
    ],
    ids=["not-json", "empty-object", "float-amount", "bad-currency"],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(MalformedPayload, match="paystack webhook body is not valid"):
        PAYSTACK.parse(body, {})


def test_the_same_event_gets_the_same_id_every_time() -> None:
    body = paystack_body("ref-3")
    assert PAYSTACK.parse(body, {}).event_id == PAYSTACK.parse(body, {}).event_id
    assert PAYSTACK.parse(body, {}).event_id != PAYSTACK.parse(paystack_body("ref-4"), {}).event_id


def test_the_rfc_4231_hmac_sha512_vector_verifies() -> None:
    # Neither Paystack's docs nor its SDKs publish a (key, body, signature) triple; the primitive
    # is checked against RFC 4231 test case 2 (HMAC-SHA-512, key "Jefe"), hex as Paystack sends.
    signature = (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a"
        "6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    body = b"what do ya want for nothing?"
    PAYSTACK.verify(
        body, {"x-paystack-signature": signature}, [b"Jefe"], now=0, tolerance_seconds=None
    )
    with pytest.raises(SignatureInvalid):
        PAYSTACK.verify(
            body + b"!",
            {"x-paystack-signature": signature},
            [b"Jefe"],
            now=0,
            tolerance_seconds=None,
        )
