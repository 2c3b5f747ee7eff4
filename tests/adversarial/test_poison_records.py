"""Item 4, poison records: anyone who can write to a topic. A main-topic record whose
payhooks.not-before is 5,000 digits made the consumer exit 1 and crash-loop on restart; a
far-future value parked its partition. Now retry headers count only on retry topics, not-before
is clamped to now + the longest delay, and whatever cannot be read goes to the DLQ as poison
with the raw record intact. The payment behind them on the same partition is credited."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from consumer.bootstrap import due_policy
from consumer.domain.records import Delivery, gate
from kernel.kafka_client import new_producer
from kernel.settings import Settings
from schemas import headers as h
from schemas.names import dlq_topic, main_topic, retry_topic
from tests.adversarial.support import (
    adversarial_settings,
    credits_of,
    given_payment,
    header,
    worker,
)
from tests.helpers import eventually, kafka_settings, paystack_envelope_bytes, read_committed

pytestmark = pytest.mark.integration

KEY = b"same-partition"
FAR_FUTURE_MS = str(int(time.time() * 1000) + 10 * 365 * 86_400_000)


def _poison_records() -> list[tuple[bytes, list[tuple[str, str | bytes | None]]]]:
    envelope = json.loads(paystack_envelope_bytes("poison-base64"))
    envelope["raw_body"] = "%%% not base64 %%%"
    return [
        (paystack_envelope_bytes("digits"), [(h.NOT_BEFORE, b"9" * 5000)]),
        (paystack_envelope_bytes("future"), [(h.NOT_BEFORE, FAR_FUTURE_MS.encode())]),
        (b"\xff\xfe not json at all", [(h.ATTEMPT, b"\xff\xff"), ("payhooks.\u0000", b"\x00")]),
        (json.dumps(envelope).encode(), [(h.NOT_BEFORE, "٣٣٣".encode())]),
        (b'{"schema_version": 1, "event_id": ' + b"[" * 50_000, []),
    ]


def test_poison_on_the_main_topic_is_dead_lettered_and_the_payment_behind_it_credited(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given poison records, then a genuine success, all on one partition of the main topic
    tuned = adversarial_settings(settings)
    for reference in ("digits", "future", "behind"):
        given_payment(session_factory, reference)
    producer = new_producer(kafka_settings(tuned.kafka_bootstrap), "test", {"acks": "all"})
    topic = main_topic(tuned.topic_prefix)
    poison = _poison_records()
    for value, headers in poison:
        producer.produce(topic, key=KEY, value=value, headers=headers, partition=0)
    producer.produce(topic, key=KEY, value=paystack_envelope_bytes("behind"), partition=0)
    assert producer.flush(60) == 0

    # When the consumer reads the partition
    with worker(tuned):
        eventually(lambda: credits_of(session_factory, "behind") == 1)
        eventually(lambda: credits_of(session_factory, "digits") == 1)
        eventually(lambda: credits_of(session_factory, "future") == 1)
        dead = read_committed(tuned.kafka_bootstrap, dlq_topic(tuned.topic_prefix), expect=3)

    # Then the loop never exited (the worker context checks it), the headers on the main topic
    # were ignored (the two readable events credited at once), and the unreadable ones are
    # dead-lettered as poison with their value byte for byte
    sent = [value for value, _ in poison[2:]]
    assert sorted(record.value() for record in dead) == sorted(sent)
    assert {header(record, h.ERROR_CLASS) for record in dead} == {"PoisonMessage"}


def test_a_far_future_not_before_on_a_retry_topic_waits_no_longer_than_the_longest_delay(
    settings: Settings,
) -> None:
    tuned = adversarial_settings(settings)
    now = int(time.time() * 1000)
    record = Delivery(
        topic=retry_topic(tuned.topic_prefix, 1),
        partition=0,
        offset=0,
        timestamp_ms=now,
        key=KEY,
        value=b"{}",
        headers={h.NOT_BEFORE: FAR_FUTURE_MS, h.ATTEMPT: "1"},
    )
    gated = gate([record], now, due_policy(tuned))
    (held,) = gated.held
    assert held.not_before_ms == now + round(max(tuned.retry_delays) * 1000)
