"""Dead letter → credited meanwhile → replay: the real consumer absorbs it, no second credit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import LedgerTransaction, Payment, Wallet
from kernel.kafka_client import new_consumer, new_producer
from kernel.settings import Settings
from payments_api.adapters.payment_rows import create_payment
from schemas.names import main_topic, retry_topic
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import eventually, payhooks_process, webhook_envelope

pytestmark = pytest.mark.e2e
REFERENCE = "e2e-dlq-1"


def payhooks(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def publish_webhook(settings: Settings, value: bytes) -> None:
    producer = new_producer(settings, "test", {"enable.idempotence": True})
    producer.produce(main_topic(settings.topic_prefix), key=REFERENCE.encode(), value=value)
    assert producer.flush(30) == 0


def retry_one_fully_consumed(settings: Settings) -> bool:
    """The consumer group has committed past every record on retry topic 1: reading from its
    committed offsets finds no record. (Not "committed == high watermark": a hand-off is
    produced in a Kafka transaction, whose commit marker takes the offset after the record, so a
    partition whose last write was a hand-off stays one short of its high watermark.)"""
    topic = retry_topic(settings.topic_prefix, 1)
    partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
    group = new_consumer(settings, "test", {"group.id": settings.consumer_group})
    try:
        committed = group.committed(partitions, 10)
    finally:
        group.close()
    reader = new_consumer(
        settings,
        "test",
        {
            "group.id": f"{settings.consumer_group}-probe",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        },
    )
    try:
        reader.assign(
            [
                TopicPartition(topic, tp.partition, max(tp.offset, OFFSET_BEGINNING))
                for tp in committed
            ]
        )
        return not [m for m in reader.consume(10, 2.0) if m.error() is None]
    finally:
        reader.close()


def credited(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        return bool(session.scalar(select(Payment.credited).where(Payment.reference == REFERENCE)))


def test_replaying_a_dead_letter_whose_payment_was_credited_meanwhile_credits_nothing(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    env = {
        **env_for,
        "PAYHOOKS_RETRY_DELAYS": "50ms,50ms,50ms,50ms",
        "PAYHOOKS_CONSUMER_INPROCESS_ATTEMPTS": "1",
        "PAYHOOKS_CONSUMER_INPROCESS_WAIT_MAX_SECONDS": "0",
    }
    webhook = webhook_envelope(REFERENCE, PAYSTACK_SECRET, amount=250_000).to_bytes()

    with payhooks_process(["consumer"], env, tmp_path / "consumer.log"):
        # Given: the webhook came before its payment existed, walked the retries and died
        publish_webhook(settings, webhook)

        def dead_letters() -> list[dict[str, object]]:
            listed = payhooks(["dlq", "list", "--json", "--reference", REFERENCE], env)
            return json.loads(listed.stdout) if listed.returncode == 0 else []

        (dead,) = eventually(dead_letters, seconds=90)
        assert dead["error_class"] == "PaymentNotFound"
        # ... and meanwhile the payment was initialized and the provider's retry credited it
        with session_factory() as session:
            create_payment(
                session,
                reference=REFERENCE,
                user_id="ada",
                amount=250_000,
                currency="NGN",
                provider="paystack",
            )
            session.commit()
        publish_webhook(settings, webhook)
        eventually(lambda: credited(session_factory), seconds=60)

        # When: on-call replays the dead letter
        replay = payhooks(["dlq", "replay", str(dead["position"])], env)
        assert replay.returncode == 0, replay.stderr
        assert "replayed 1, skipped 0 already replayed, refused 0" in replay.stdout
        eventually(lambda: retry_one_fully_consumed(settings), seconds=60)

    # Then: still one credit, and the ledger reconciles
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1
        assert session.scalars(select(Wallet.balance)).one() == 250_000
    reconcile = payhooks(["reconcile"], env)
    assert reconcile.returncode == 0, reconcile.stdout
