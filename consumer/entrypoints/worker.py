"""The worker loop: consume, credit, commit the offset once the outcome is durable."""

from __future__ import annotations

import signal
import threading
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, Message, Producer

from consumer.bootstrap import CreditApp
from consumer.domain.errors import ConsumerError, PoisonMessage
from consumer.service_layer.credit import credit_payment, verified_event
from schemas.envelope import WebhookEnvelope
from schemas.errors import MalformedEnvelope

log = structlog.get_logger("payhooks.consumer")


def consumer_config(app: CreditApp) -> dict[str, Any]:
    return {
        "bootstrap.servers": app.settings.kafka_bootstrap,
        "group.id": app.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }


def handle(app: CreditApp, message: Message) -> str:
    """Apply one record; return its outcome. Raises ConsumerError for the failure path."""
    try:
        envelope = WebhookEnvelope.from_bytes(message.value())
    except MalformedEnvelope as exc:
        raise PoisonMessage(str(exc), raw=message.value()) from exc
    event = verified_event(envelope, app.settings.provider_secrets(envelope.provider))
    return credit_payment(app.new_uow(), envelope, event).verdict.value


def dead_letter(producer: Producer, app: CreditApp, message: Message, error: ConsumerError) -> None:
    producer.produce(
        app.dlq_topic,
        value=message.value(),
        key=message.key(),
        headers=[
            ("payhooks.error-class", type(error).__name__.encode()),
            ("payhooks.error-message", str(error).encode()),
        ],
    )
    producer.flush(30)


def run(app: CreditApp, stop: threading.Event) -> None:
    consumer = Consumer(consumer_config(app))
    producer = Producer(
        {
            "bootstrap.servers": app.settings.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
        }
    )
    consumer.subscribe([app.main_topic])
    try:
        while not stop.is_set():
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka.error", error=error.str())
                continue
            context = {
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
            }
            try:
                outcome = handle(app, message)
                log.info(f"credit.{outcome}", **context)
            except ConsumerError as exc:
                dead_letter(producer, app, message, exc)
                log.warning(
                    "credit.dead_lettered",
                    error_class=type(exc).__name__,
                    error=str(exc),
                    **context,
                )
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()


def main(app: CreditApp) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(app, stop)
