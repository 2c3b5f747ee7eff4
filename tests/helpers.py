"""Builders and waiters shared by the tests (no fakes of Kafka, PostgreSQL or Redis)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic_settings import BaseSettings

from consumer.bootstrap import bootstrap
from consumer.entrypoints.worker import run
from kernel.kafka_client import new_consumer, new_producer
from kernel.provider_verify import ProviderUnreachable
from kernel.settings import KafkaClientSettings, Settings
from payhooks_devtools.localnet import stop_process
from payhooks_devtools.simulator.events import payment_payload
from schemas import headers as hdr
from schemas.envelope import WebhookEnvelope, encode_body
from schemas.providers import SCHEMES
from schemas.providers.base import deterministic_event_id
from tests.conftest import PAYSTACK_SECRET

DeployableSettings = TypeVar("DeployableSettings", bound=BaseSettings)


def narrowed(settings: Settings, cls: type[DeployableSettings]) -> DeployableSettings:
    """`settings` as one deployable's own class (`ApiSettings`, `ConsumerSettings`, …): the
    same, already validated values of its fields, without reading the environment again."""
    values = {name: getattr(settings, name) for name in cls.model_fields}
    # the pydantic mypy plugin types model_construct on a type variable as its bound
    return cast(DeployableSettings, cls.model_construct(**values))


def kafka_settings(kafka: str | KafkaClientSettings) -> KafkaClientSettings:
    """Tests name Kafka by its bootstrap (the plain local stack) or by settings (a secured one)."""
    return KafkaClientSettings.plaintext(kafka) if isinstance(kafka, str) else kafka


def paystack_body(
    reference: str,
    amount: int = 500_000,
    currency: str = "NGN",
    event: str = "charge.success",
    status: str = "success",
) -> bytes:
    payload = payment_payload("paystack", reference, amount, currency, event=event, status=status)
    return json.dumps(payload).encode()


def signed_headers(
    provider: str, body: bytes, secret: str, *, now: float | None = None, event_id: str = "evt_test"
) -> dict[str, str]:
    headers = SCHEMES[provider].sign(
        body, secret.encode(), now=now or time.time(), event_id=event_id
    )
    return {**headers, "content-type": "application/json"}


def eventually(check: Callable[[], Any], *, seconds: float = 60, every: float = 0.2) -> Any:
    """Poll until `check()` is truthy; return it, or fail with the last value seen."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = check()
    assert value, f"condition not met within {seconds} s (last value: {value!r})"
    return value


@contextmanager
def payhooks_process(
    args: list[str], env: dict[str, str], log: Path, *, module: list[str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `payhooks …` process, stopped with SIGTERM (then SIGKILL) at the end. `module`
    runs another entry point with the same CLI (e.g. `killed_at(...)`)."""
    launcher = module or ["payhooks"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *launcher, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            stop_process(process)


def paystack_envelope_bytes(
    reference: str,
    amount: int = 500_000,
    currency: str = "NGN",
    *,
    secret: str | None = None,
    event: str = "charge.success",
    status: str = "success",
) -> bytes:
    """A signed Paystack webhook as the gateway would put it on `<prefix>.webhooks`."""

    body = paystack_body(reference, amount, currency, event=event, status=status)
    return WebhookEnvelope(
        event_id=deterministic_event_id("paystack", event, reference),
        provider="paystack",
        event_type=event,
        reference=reference,
        amount=amount,
        currency=currency,
        received_at=datetime.now(UTC),
        raw_body=encode_body(body),
        signature_headers=signed_headers("paystack", body, secret or PAYSTACK_SECRET),
    ).to_bytes()


def produce_records(
    kafka: str | KafkaClientSettings,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None]],
) -> None:
    """Publish (key, value) records and wait until Kafka holds them all."""
    producer = new_producer(kafka_settings(kafka), "test", {"linger.ms": 20, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(60) == 0, "Kafka did not take every record"


def read_committed(
    kafka: str | KafkaClientSettings, topic: str, *, expect: int, seconds: float = 60
) -> list[Any]:
    """Every committed record of `topic` (read_committed), waiting until `expect` have come."""
    consumer = new_consumer(
        kafka_settings(kafka),
        "test",
        {
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        },
    )
    consumer.subscribe([topic])
    records: list[Any] = []
    deadline = time.monotonic() + seconds
    try:
        while len(records) < expect and time.monotonic() < deadline:
            records.extend(m for m in consumer.consume(100, 0.5) if m.error() is None)
        # Linger a moment so an unexpected extra record would be seen too.
        records.extend(m for m in consumer.consume(100, 1.0) if m.error() is None)
    finally:
        consumer.close()
    return records


# --- dead letters: records shaped as the consumer writes them to `<prefix>.webhooks.dlq` --------

DlqRecord = tuple[bytes | None, bytes, list[tuple[str, str | bytes | None]]]


def webhook_envelope(
    reference: str,
    secret: str,
    *,
    amount: int = 500_000,
    currency: str = "NGN",
    body: bytes | None = None,
) -> WebhookEnvelope:
    """A Paystack envelope as the gateway publishes it, signed with `secret`."""
    raw = body if body is not None else paystack_body(reference, amount, currency)
    return WebhookEnvelope(
        event_id=deterministic_event_id("paystack", "charge.success", reference),
        provider="paystack",
        event_type="charge.success",
        reference=reference,
        amount=amount,
        currency=currency,
        received_at=datetime.now(UTC),
        raw_body=encode_body(raw),
        signature_headers=SCHEMES["paystack"].sign(
            raw, secret.encode(), now=time.time(), event_id=""
        ),
    )


def dlq_headers(
    *,
    error_class: str = "PaymentNotFound",
    error_message: str = "no payment has reference yet",
    attempt: int = 5,
    first_failed_at_ms: int = 1_700_000_000_000,
    original_topic: str = "test.webhooks",
    group: str = "test-credit",
) -> list[tuple[str, str | bytes | None]]:
    values = {
        hdr.ATTEMPT: str(attempt),
        hdr.NOT_BEFORE: "0",
        hdr.FIRST_FAILED_AT: str(first_failed_at_ms),
        hdr.ORIGINAL_TOPIC: original_topic,
        hdr.ORIGINAL_PARTITION: "0",
        hdr.ORIGINAL_OFFSET: "7",
        hdr.ORIGINAL_TIMESTAMP: str(first_failed_at_ms - 1000),
        hdr.GROUP: group,
        hdr.ERROR_CLASS: error_class,
        hdr.ERROR_MESSAGE: error_message,
    }
    return [(name, value.encode()) for name, value in values.items()]


def dlq_record(envelope: WebhookEnvelope, **headers: Any) -> DlqRecord:
    return envelope.reference.encode(), envelope.to_bytes(), dlq_headers(**headers)


def produce_in_transaction(
    kafka: str | KafkaClientSettings,
    topic: str,
    records: list[DlqRecord],
    *,
    partition: int = 0,
    commit: bool = True,
) -> None:
    """Write `records` in one Kafka transaction (as the consumer does); abort it if not `commit`."""
    producer = new_producer(
        kafka_settings(kafka), "test", {"transactional.id": f"test-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers, partition=partition)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)
        producer.abort_transaction(30)


def signed_envelope(provider: str, body: bytes, secret: str) -> WebhookEnvelope:
    """Any provider's webhook `body`, signed with `secret`, as the gateway publishes it."""
    scheme = SCHEMES[provider]
    event_id = f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, body.decode(errors='replace')).hex[:16]}"
    headers = scheme.sign(body, secret.encode(), now=time.time(), event_id=event_id)
    event = scheme.parse(body, headers)
    return WebhookEnvelope(
        event_id=event.event_id,
        provider=provider,
        event_type=event.event_type,
        reference=event.reference,
        amount=event.amount,
        currency=event.currency,
        received_at=datetime.now(UTC),
        raw_body=encode_body(body),
        signature_headers=headers,
    )


@contextmanager
def credit_worker(settings: Any, **bootstrap_options: Any) -> Iterator[Any]:
    """A real credit consumer (`worker.run`) in a thread, stopped at the end."""

    app = bootstrap(settings, **bootstrap_options)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(app, stop), daemon=True)
    thread.start()
    try:
        yield app
    finally:
        stop.set()
        thread.join(60)
        app.close()
    assert not thread.is_alive(), "the worker did not stop"


class ScriptedVerifier:
    """An in-memory fake of the ProviderVerifier port: the answer per reference (None: the
    provider does not answer), and a record of every call."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def confirm(self, provider: str, reference: str, *, transaction_id: str | None = None) -> Any:

        self.calls.append((provider, reference))
        found = self.answers.get(reference)
        if found is None:
            raise ProviderUnreachable(f"{provider} is down (scripted)")
        return found

    def close(self) -> None:
        pass
