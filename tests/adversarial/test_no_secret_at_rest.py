"""Item 3, the hash is in Kafka: reading a topic (or ops output) must never be enough to forge.
Flutterwave's verif-hash is the shared secret itself; it never reaches Kafka, logs, metrics or
`dlq show`. What is kept: which scheme and which configured secret (by position) verified it.
Records written before, with the hash inside, are still read: as hash-only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from structlog.testing import capture_logs

from consumer.service_layer.credit import credit_item
from kernel.settings import Settings
from kernel.topics import ensure_topics
from payhooks_devtools.simulator.events import webhook_body
from schemas.envelope import WebhookEnvelope, encode_body
from schemas.names import dlq_topic, main_topic
from schemas.providers.flutterwave import body_signature
from tests.gateway_support import FIELDS, SECRETS, gateway_client, with_providers
from tests.helpers import dlq_headers, produce_in_transaction, read_committed

pytestmark = pytest.mark.integration

SECRET = SECRETS["flutterwave"]


def _leaks(text: str | bytes) -> bool:
    """The secret, or any 8-character piece of it, appears in `text`."""
    haystack = text.decode(errors="replace") if isinstance(text, bytes) else text
    return any(SECRET[i : i + 8] in haystack for i in range(len(SECRET) - 7))


def test_webhooks_reach_kafka_logs_and_metrics_without_the_hash(settings: Settings) -> None:
    # Given the gateway with Flutterwave on (old and new hash: a rotation)
    tuned = with_providers(settings, rotation=True)
    ensure_topics(tuned)
    hash_only = webhook_body("flutterwave", "ref-hash-only", 1_000, "NGN")
    both = webhook_body("flutterwave", "ref-both", 1_000, "NGN")
    signature = {"flutterwave-signature": _signature(both)}
    # When a hash-only and a hash + signature webhook come in
    with capture_logs() as logs, gateway_client(tuned) as client:
        first = client.post(
            "/webhooks/flutterwave", content=hash_only, headers={"verif-hash": SECRET}
        )
        second = client.post(
            "/webhooks/flutterwave", content=both, headers={"verif-hash": SECRET, **signature}
        )
        metrics = client.get("/metrics").text
    records = read_committed(tuned.kafka_bootstrap, main_topic(tuned.topic_prefix), expect=2)

    # Then Kafka holds both, with the verifying scheme and secret named, never the hash
    assert (first.status_code, second.status_code) == (202, 202)
    assert len(records) == 2
    assert not any(_leaks(record.value()) for record in records)
    envelopes = {e.reference: e for e in (WebhookEnvelope.from_bytes(r.value()) for r in records)}
    assert (
        envelopes["ref-hash-only"].verified_scheme,
        envelopes["ref-hash-only"].verified_secret,
    ) == (
        "verif-hash",
        "secret-1",
    )
    assert envelopes["ref-both"].verified_scheme == "flutterwave-signature"
    assert not _leaks(json.dumps(logs, default=str))
    assert not _leaks(metrics)


def test_an_old_record_with_the_hash_is_read_as_hash_only_and_never_shown(
    settings: Settings, env_for: dict[str, str]
) -> None:
    # Given a dead letter written before: its envelope carries verif-hash
    ensure_topics(settings)
    body = webhook_body("flutterwave", "ref-old", 1_000, "NGN")
    old = json.loads(
        WebhookEnvelope(
            event_id="flw-old",
            provider="flutterwave",
            event_type="charge.completed",
            reference="ref-old",
            received_at="2026-11-27T10:00:00Z",
            raw_body=encode_body(body),
        ).to_bytes()
    )
    old["signature_headers"] = {"verif-hash": SECRET}
    value = json.dumps(old).encode()
    produce_in_transaction(
        settings.kafka_bootstrap,
        dlq_topic(settings.topic_prefix),
        [(b"ref-old", value, dlq_headers())],
    )
    env = {**env_for, f"PAYHOOKS_{FIELDS['flutterwave'].upper()}": SECRET}

    # When ops look at it, and the consumer reads it
    shown = subprocess.run(
        [sys.executable, "-m", "payhooks", "dlq", "show", "0:0", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    item = credit_item(WebhookEnvelope.from_bytes(value), [SECRET.encode()])

    # Then nothing shows the hash, and the consumer takes it as hash-only (confirmation decides)
    assert shown.returncode == 0, shown.stderr
    assert '"reference": "ref-old"' in shown.stdout
    assert not _leaks(shown.stdout + shown.stderr)
    assert item.hash_only
    assert item.event.reference == "ref-old"


def _signature(body: bytes) -> str:

    return body_signature(SECRET.encode(), body)
