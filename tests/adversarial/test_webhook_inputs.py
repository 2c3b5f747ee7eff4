"""Item 6 (webhook side), 503 + traceback where a 4xx belongs: correctly signed but hostile
bodies and headers. Every field is bounded to its column before anything reaches Kafka or the
database: a signed but unusable body is 400 + a DLQ record (the provider really sent it), a
malformed signature header is 401; never 503, so the provider does not retry it forever."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from kernel.settings import Settings
from kernel.topics import ensure_topics
from schemas.envelope import WebhookEnvelope
from schemas.names import dlq_topic, main_topic
from tests.gateway_support import SECRETS, gateway_client, with_providers
from tests.helpers import read_committed, signed_headers

pytestmark = pytest.mark.integration


def _flutterwave(data: dict[str, object]) -> bytes:
    base = {"tx_ref": "ref-hostile", "currency": "NGN", "status": "successful", "id": 1}
    return json.dumps({"event": "charge.completed", "data": {**base, **data}}).encode()


SIGNED_BUT_UNUSABLE = {
    "flutterwave amount 1E+999999": ("flutterwave", _flutterwave({"amount": "1E+999999"})),
    "flutterwave data.id of 300 chars": (
        "flutterwave",
        _flutterwave({"amount": 10, "id": "9" * 300}),
    ),
    "paystack event longer than its column": (
        "paystack",
        json.dumps(
            {
                "event": "charge.success" + "x" * 200,
                "data": {"reference": "ref-hostile", "amount": 1, "currency": "NGN"},
            }
        ).encode(),
    ),
    "stripe metadata.reference of 5,000 chars": (
        "stripe",
        json.dumps(
            {
                "id": "evt_hostile",
                "type": "payment_intent.succeeded",
                "data": {
                    "object": {
                        "id": "pi_x",
                        "object": "payment_intent",
                        "amount_received": 100,
                        "currency": "ngn",
                        "status": "succeeded",
                        "metadata": {"reference": "r" * 5000},
                    }
                },
            }
        ).encode(),
    ),
}


def test_signed_but_unusable_bodies_are_400_and_dead_lettered(settings: Settings) -> None:
    # Given the gateway with every provider on
    tuned = with_providers(settings)
    ensure_topics(tuned)
    # When each signed hostile body comes in
    with gateway_client(tuned) as client:
        answers = {
            name: client.post(
                f"/webhooks/{provider}",
                content=body,
                headers=signed_headers(provider, body, SECRETS[provider]),
            )
            for name, (provider, body) in SIGNED_BUT_UNUSABLE.items()
        }
    dead = read_committed(tuned.kafka_bootstrap, dlq_topic(tuned.topic_prefix), expect=4)
    main = read_committed(tuned.kafka_bootstrap, main_topic(tuned.topic_prefix), expect=0)

    # Then each is a 400 naming the problem, kept on the DLQ with its exact bytes, and
    # nothing reached the main topic
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"]["code"] == "malformed_payload"
    kept = {WebhookEnvelope.from_bytes(record.value()).body_bytes for record in dead}
    assert kept == {body for _, body in SIGNED_BUT_UNUSABLE.values()}
    assert main == []


@pytest.mark.parametrize(
    "timestamp",
    ["9" * 5000, "\u0661\u0667" + "\u0660" * 8, "+1700000000", " 1700000000"],
    ids=["5000-digits", "arabic-indic", "plus", "space"],
)
def test_a_stripe_timestamp_that_is_not_ascii_unix_seconds_is_401(
    settings: Settings, timestamp: str
) -> None:
    tuned = with_providers(settings)
    ensure_topics(tuned)
    body = b'{"id": "evt_t", "type": "payment_intent.created", "data": {"object": {}}}'
    # signed over the timestamp exactly as sent, so only its form can be what is refused
    mac = hmac.new(
        SECRETS["stripe"].encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    with gateway_client(tuned, clock=time.time) as client:
        answer = client.post(
            "/webhooks/stripe",
            content=body,
            # bytes: httpx would refuse a non-ASCII str header, the gateway must see it as sent
            headers={"stripe-signature": f"t={timestamp},v1={mac}".encode()},  # type: ignore[arg-type]
        )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "invalid_signature"
