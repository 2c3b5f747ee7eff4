"""Flutterwave: `verif-hash` or `flutterwave-signature`, rotation, major units → minor units."""

from __future__ import annotations

import json

import pytest

from payhooks_devtools.simulator.events import non_payment_body, webhook_body
from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers import SCHEMES
from tests.helpers import signed_headers

FLUTTERWAVE = SCHEMES["flutterwave"]
SECRET = "flw-secret-hash-primary"


def test_genuine_event_verifies_and_amounts_become_minor_units() -> None:
    body = webhook_body("flutterwave", "ref-f1", 150_050, "NGN")
    headers = signed_headers("flutterwave", body, SECRET)

    FLUTTERWAVE.verify(body, headers, [SECRET.encode()], now=0, tolerance_seconds=300)
    event = FLUTTERWAVE.parse(body, headers)

    assert json.loads(body)["data"]["amount"] == 1500.5
    assert (event.reference, event.amount, event.currency) == ("ref-f1", 150_050, "NGN")
    assert event.event_id == f"flw-{json.loads(body)['data']['id']}"
    assert event.is_successful_payment


@pytest.mark.parametrize("header", ["verif-hash", "flutterwave-signature"])
def test_either_header_alone_is_enough(header: str) -> None:
    body = webhook_body("flutterwave", "ref-f2", 100, "NGN")
    headers = {header: signed_headers("flutterwave", body, SECRET)[header]}
    FLUTTERWAVE.verify(body, headers, [SECRET.encode()], now=0, tolerance_seconds=300)


def test_old_and_new_hashes_both_verify_during_rotation() -> None:
    body = webhook_body("flutterwave", "ref-rot", 100, "NGN")
    for secret in ("flw-old", "flw-new"):
        FLUTTERWAVE.verify(
            body,
            signed_headers("flutterwave", body, secret),
            [b"flw-new", b"flw-old"],
            now=0,
            tolerance_seconds=300,
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"verif-hash": ""},
        {"verif-hash": "wrong"},
        {"flutterwave-signature": "d3Jvbmc="},
        {"verif-hash": "wrong", "flutterwave-signature": "d3Jvbmc="},
        {"verif-hash": SECRET, "flutterwave-signature": "d3Jvbmc="},
    ],
    ids=["none", "empty", "wrong-hash", "wrong-signature", "both-wrong", "right-hash-wrong-sig"],
)
def test_missing_or_wrong_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        FLUTTERWAVE.verify(
            webhook_body("flutterwave", "r", 1, "NGN"),
            headers,
            [SECRET.encode()],
            now=0,
            tolerance_seconds=300,
        )


def test_the_body_signature_binds_the_body() -> None:
    signature = signed_headers("flutterwave", webhook_body("flutterwave", "r", 100, "NGN"), SECRET)
    with pytest.raises(SignatureInvalid):
        FLUTTERWAVE.verify(
            webhook_body("flutterwave", "r", 100_000, "NGN"),
            {"flutterwave-signature": signature["flutterwave-signature"]},
            [SECRET.encode()],
            now=0,
            tolerance_seconds=300,
        )


def test_failed_charges_and_transfers_are_parsed_but_not_successful() -> None:
    failed = FLUTTERWAVE.parse(webhook_body("flutterwave", "r", 100, "NGN", succeeded=False), {})
    transfer = FLUTTERWAVE.parse(non_payment_body("flutterwave"), {})
    assert (failed.provider_status, failed.is_successful_payment) == ("failed", False)
    assert (transfer.event_type, transfer.reference, transfer.event_id) == (
        "transfer.completed",
        "",
        "flw-88",
    )


def test_zero_decimal_currencies_are_not_scaled() -> None:
    body = json.dumps(
        {
            "event": "charge.completed",
            "data": {
                "id": 1,
                "tx_ref": "r",
                "amount": 5000,
                "currency": "XOF",
                "status": "successful",
            },
        }
    ).encode()
    assert FLUTTERWAVE.parse(body, {}).amount == 5000


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"event": "charge.completed", "data": {"tx_ref": "r", "amount": 1.234, '
        b'"currency": "NGN", "status": "successful"}}',
        b'{"event": "charge.completed", "data": {"amount": 1, "currency": "NGN", '
        b'"status": "successful"}}',
    ],
    ids=["not-json", "sub-kobo-amount", "success-without-tx-ref"],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(MalformedPayload, match="flutterwave"):
        FLUTTERWAVE.parse(body, {})


def test_hash_only_is_reported_as_not_body_signed_and_names_the_secret_by_position() -> None:
    body = webhook_body("flutterwave", "r", 100, "NGN")
    hash_only = FLUTTERWAVE.verify(
        body, {"verif-hash": SECRET}, [b"flw-new", SECRET.encode()], now=0, tolerance_seconds=300
    )
    signed = FLUTTERWAVE.verify(
        body,
        signed_headers("flutterwave", body, SECRET),
        [SECRET.encode()],
        now=0,
        tolerance_seconds=300,
    )
    assert (hash_only.scheme, hash_only.secret_label, hash_only.body_signed) == (
        "verif-hash",
        "secret-2",
        False,
    )
    assert (signed.scheme, signed.body_signed) == ("flutterwave-signature", True)
    assert FLUTTERWAVE.signature_header_names == ("flutterwave-signature",)


def test_the_rfc_4231_hmac_sha256_vector_verifies_as_flutterwave_signature() -> None:
    # Flutterwave publishes no (hash, body, signature) triple; the primitive is checked against
    # RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe"), base64 as flutterwave-signature carries it.
    headers = {"flutterwave-signature": "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="}
    body = b"what do ya want for nothing?"
    verified = FLUTTERWAVE.verify(body, headers, [b"Jefe"], now=0, tolerance_seconds=None)
    assert verified.body_signed
    with pytest.raises(SignatureInvalid):
        FLUTTERWAVE.verify(body + b"!", headers, [b"Jefe"], now=0, tolerance_seconds=None)
