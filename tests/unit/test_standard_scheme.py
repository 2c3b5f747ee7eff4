"""Standard Webhooks: "id.timestamp.body", base64 key after whsec_, rotation, window both ways."""

from __future__ import annotations

import base64

import pytest

from payhooks_devtools.simulator.events import non_payment_body, webhook_body
from schemas.errors import MalformedPayload, SignatureInvalid, SignatureStale
from schemas.providers import SCHEMES
from tests.helpers import signed_headers

STANDARD = SCHEMES["standard"]
NOW = 1_800_000_000.0
SECRET = "whsec_" + base64.b64encode(b"standard-primary-key-32-bytes!!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"standard-old-key").decode()


def test_genuine_event_verifies_and_its_id_is_the_webhook_id() -> None:
    body = webhook_body("standard", "ref-w1", 7_000, "KES")
    headers = signed_headers("standard", body, SECRET, now=NOW, event_id="msg_2a")

    STANDARD.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)
    event = STANDARD.parse(body, headers)

    assert (event.event_id, event.reference, event.amount, event.currency) == (
        "msg_2a",
        "ref-w1",
        7_000,
        "KES",
    )
    assert event.is_successful_payment


def test_the_reference_library_vector_verifies() -> None:
    # From standard-webhooks' own test suite (libraries/python tests): a known-good triple.
    secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    STANDARD.verify(body, headers, [secret], now=1614265330, tolerance_seconds=300)


def test_old_and_new_secrets_both_verify_during_rotation() -> None:
    body = webhook_body("standard", "ref-rot", 100, "NGN")
    for secret in (OLD_SECRET, SECRET):
        headers = signed_headers("standard", body, secret, now=NOW, event_id="msg_r")
        STANDARD.verify(
            body, headers, [SECRET.encode(), OLD_SECRET.encode()], now=NOW, tolerance_seconds=300
        )


def test_one_of_several_space_separated_signatures_may_match() -> None:
    body = webhook_body("standard", "ref-m", 100, "NGN")
    headers = signed_headers("standard", body, SECRET, now=NOW, event_id="msg_m")
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    STANDARD.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamps_exactly_at_the_tolerance_are_accepted(offset: int) -> None:
    body = webhook_body("standard", "ref-edge", 100, "NGN")
    headers = signed_headers("standard", body, SECRET, now=NOW + offset, event_id="msg_e")
    STANDARD.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
def test_timestamps_one_second_past_the_tolerance_are_refused(offset: int) -> None:
    body = webhook_body("standard", "ref-edge", 100, "NGN")
    headers = signed_headers("standard", body, SECRET, now=NOW + offset, event_id="msg_e")
    with pytest.raises(SignatureStale):
        STANDARD.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


@pytest.mark.parametrize(
    "drop_or_change",
    [
        ("webhook-id", None),
        ("webhook-timestamp", None),
        ("webhook-signature", None),
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", "not-a-number"),
        ("webhook-signature", "v2,abc"),
    ],
    ids=["no-id", "no-ts", "no-sig", "other-id", "bad-ts", "unknown-version"],
)
def test_missing_or_tampered_headers_are_refused(drop_or_change: tuple[str, str | None]) -> None:
    name, value = drop_or_change
    body = webhook_body("standard", "r", 100, "NGN")
    headers = signed_headers("standard", body, SECRET, now=NOW, event_id="msg_t")
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    with pytest.raises(SignatureInvalid):
        STANDARD.verify(body, headers, [SECRET.encode()], now=NOW, tolerance_seconds=300)


def test_a_secret_that_is_not_base64_never_verifies() -> None:
    body = webhook_body("standard", "r", 100, "NGN")
    headers = signed_headers("standard", body, SECRET, now=NOW, event_id="msg_b")
    with pytest.raises(SignatureInvalid):
        STANDARD.verify(body, headers, [b"whsec_***"], now=NOW, tolerance_seconds=300)


def test_other_event_types_are_parsed_but_not_successful() -> None:
    failed = STANDARD.parse(
        webhook_body("standard", "r", 100, "NGN", succeeded=False), {"webhook-id": "m1"}
    )
    other = STANDARD.parse(non_payment_body("standard"), {"webhook-id": "m2"})
    assert (failed.event_type, failed.is_successful_payment) == ("payment.failed", False)
    assert (other.reference, other.is_successful_payment) == ("", False)


@pytest.mark.parametrize(
    "body",
    [b"nope", b'{"type": "payment.succeeded", "data": {"amount": 5, "currency": "NGN"}}'],
    ids=["not-json", "success-without-reference"],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(MalformedPayload, match="standard"):
        STANDARD.parse(body, {"webhook-id": "m"})
