"""Retry topics and the DLQ on the real Kafka, PostgreSQL and Redis, with a worker in a thread.

Delays are a few hundred milliseconds (settings.retry_delays), so nothing sleeps for real long.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from consumer.bootstrap import CreditApp
from kernel.db.tables import LedgerTransaction, Payment, ProcessedEvent, Wallet
from kernel.settings import Settings
from kernel.topics import ensure_topics
from payhooks_devtools.simulator.events import reversal_body
from payments_api.adapters.payment_rows import create_payment
from schemas import headers as h
from schemas.envelope import WebhookEnvelope
from schemas.names import dlq_topic, main_topic, retry_topic
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import (
    credit_worker,
    eventually,
    paystack_envelope_bytes,
    produce_records,
    read_committed,
    signed_envelope,
)

pytestmark = pytest.mark.integration

DELAYS = (0.3, 0.4, 0.5)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    tuned = settings.model_copy(
        update={
            "retry_delays": DELAYS,
            "consumer_inprocess_attempts": 2,
            "consumer_inprocess_wait_max_seconds": 0.01,
            "consumer_batch_size": 50,
        }
    )
    ensure_topics(tuned)
    return tuned


def worker(settings: Settings) -> AbstractContextManager[CreditApp]:
    return credit_worker(settings)


def given_payment(factory: sessionmaker[Session], reference: str, amount: int = 500_000) -> None:
    with factory() as session:
        create_payment(
            session,
            reference=reference,
            user_id=f"user-{reference}",
            amount=amount,
            currency="NGN",
            provider="paystack",
        )
        session.commit()


def credited_count(factory: sessionmaker[Session], reference: str) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.reference == reference)
            )
            or 0
        )


def header_map(record: Any) -> dict[str, str]:
    return {name: (value or b"").decode() for name, value in record.headers() or []}


def test_a_webhook_whose_payment_comes_later_is_credited_after_a_retry(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a success webhook for a payment that is not initialized yet
    produce_records(
        fast.kafka_bootstrap,
        main_topic(fast.topic_prefix),
        [(b"late-1", paystack_envelope_bytes("late-1"))],
    )
    with capture_logs() as logs, worker(fast):
        # When the first attempt fails and the payment is initialized afterwards
        eventually(lambda: any(e["event"] == "retry.scheduled" for e in logs), seconds=60)
        given_payment(session_factory, "late-1")
        # Then the retry credits it, once
        eventually(lambda: credited_count(session_factory, "late-1") == 1, seconds=60)
    retried = read_committed(fast.kafka_bootstrap, retry_topic(fast.topic_prefix, 1), expect=1)
    assert len(retried) == 1
    headers = header_map(retried[0])
    assert headers[h.ATTEMPT] == "1"
    assert headers[h.ERROR_CLASS] == "PaymentNotFound"
    assert headers[h.ORIGINAL_TOPIC] == main_topic(fast.topic_prefix)
    assert [e["event"] for e in logs if e["event"].startswith("credit.")] == ["credit.applied"]
    assert credited_count(session_factory, "late-1") == 1


def test_a_persistent_failure_walks_every_retry_topic_in_order_then_lands_in_the_dlq(
    fast: Settings,
) -> None:
    # Given a webhook whose payment never exists
    produce_records(
        fast.kafka_bootstrap,
        main_topic(fast.topic_prefix),
        [(b"ghost", paystack_envelope_bytes("ghost"))],
    )
    with worker(fast):
        dead = read_committed(fast.kafka_bootstrap, dlq_topic(fast.topic_prefix), expect=1)
    hops = [
        read_committed(fast.kafka_bootstrap, retry_topic(fast.topic_prefix, n), expect=1)
        for n in range(1, len(DELAYS) + 1)
    ]
    # Then it went through retry 1, 2, 3 once each, then to the DLQ, with every header
    assert [len(records) for records in hops] == [1, 1, 1]
    assert len(dead) == 1
    chain = [header_map(records[0]) for records in hops] + [header_map(dead[0])]
    assert [c[h.ATTEMPT] for c in chain] == ["1", "2", "3", "4"]
    for header_name in h.ALL:
        assert header_name in chain[-1]
    assert chain[-1][h.ORIGINAL_TOPIC] == main_topic(fast.topic_prefix)
    assert chain[-1][h.GROUP] == fast.consumer_group
    assert len({c[h.FIRST_FAILED_AT] for c in chain}) == 1
    # And no hop was processed before its due time: a hop's failure time (its successor's
    # not-before minus that successor's delay) is never earlier than the hop's own not-before.
    for hop, successor, delay in zip(chain[:-2], chain[1:-1], DELAYS[1:], strict=True):
        processed_at = int(successor[h.NOT_BEFORE]) - round(delay * 1000)
        assert processed_at >= int(hop[h.NOT_BEFORE])
    assert int(chain[-1][h.NOT_BEFORE]) >= int(chain[-2][h.NOT_BEFORE])
    assert dead[0].value() == paystack_envelope_bytes_value(dead[0])
    assert dead[0].key() == b"ghost"


def paystack_envelope_bytes_value(record: Any) -> bytes:
    """The DLQ keeps the original envelope bytes: they still parse as the same event."""

    envelope = WebhookEnvelope.from_bytes(record.value())
    assert envelope.reference == "ghost"
    return bytes(record.value())


def test_a_poison_message_goes_straight_to_the_dlq_and_its_partition_keeps_flowing(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a poison record followed by a good one with the same key (same partition)
    given_payment(session_factory, "after-poison")
    produce_records(
        fast.kafka_bootstrap,
        main_topic(fast.topic_prefix),
        [
            (b"after-poison", b"{not json"),
            (b"after-poison", paystack_envelope_bytes("after-poison")),
        ],
    )
    with worker(fast):
        eventually(lambda: credited_count(session_factory, "after-poison") == 1, seconds=60)
        dead = read_committed(fast.kafka_bootstrap, dlq_topic(fast.topic_prefix), expect=1)
    # Then the poison record is dead-lettered at once (attempt 1, no retry topic) as it was
    assert len(dead) == 1
    assert dead[0].value() == b"{not json"
    headers = header_map(dead[0])
    assert (headers[h.ATTEMPT], headers[h.ERROR_CLASS]) == ("1", "PoisonMessage")
    for n in range(1, len(DELAYS) + 1):
        assert (
            read_committed(fast.kafka_bootstrap, retry_topic(fast.topic_prefix, n), expect=0) == []
        )


def test_an_amount_mismatch_is_recorded_not_credited_and_dead_lettered(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "short", amount=1_000)
    produce_records(
        fast.kafka_bootstrap,
        main_topic(fast.topic_prefix),
        [(b"short", paystack_envelope_bytes("short", amount=1_000_000))],
    )
    with worker(fast):
        dead = read_committed(fast.kafka_bootstrap, dlq_topic(fast.topic_prefix), expect=1)
    assert header_map(dead[0])[h.ERROR_CLASS] == "CreditMismatch"
    with session_factory() as session:
        payment = session.scalars(select(Payment)).one()
        assert not payment.credited
        assert payment.flag_reason
        assert session.scalars(select(ProcessedEvent.outcome)).one() == "rejected"
        assert session.scalars(select(Wallet.balance)).one() == 0


def test_a_later_event_does_not_change_the_result_of_one_waiting_in_a_retry_topic(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    """Per-reference order rule: only a matching success credits, once per reference, and
    non-success events never change a payment; so whichever order they land in, one credit."""
    # Given a success that must wait (payment not there yet), then a failed-charge event and a
    # second delivery of the success that arrive after the payment exists
    produce_records(
        fast.kafka_bootstrap,
        main_topic(fast.topic_prefix),
        [(b"ord", paystack_envelope_bytes("ord"))],
    )
    with capture_logs() as logs, worker(fast):
        eventually(lambda: any(e["event"] == "retry.scheduled" for e in logs), seconds=60)
        given_payment(session_factory, "ord")
        produce_records(
            fast.kafka_bootstrap,
            main_topic(fast.topic_prefix),
            [
                (b"ord", paystack_envelope_bytes("ord", event="charge.failed", status="failed")),
                (b"ord", paystack_envelope_bytes("ord")),
            ],
        )
        eventually(
            lambda: (
                sorted(e["event"] for e in logs if e["event"].startswith("credit."))
                == ["credit.applied", "credit.duplicate", "credit.ignored"]
            ),
            seconds=60,
        )
    # Then one credit, the payment completed, and both event ids recorded
    assert credited_count(session_factory, "ord") == 1
    with session_factory() as session:
        assert session.scalars(select(Payment.state)).one() == "completed"
        assert sorted(session.scalars(select(ProcessedEvent.outcome))) == ["applied", "ignored"]


def test_a_refund_before_its_success_waits_in_retry_then_applies(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a refund webhook that overtakes its payment's success
    slow = fast.model_copy(update={"retry_delays": (0.3, 2.0, 5.0)})
    given_payment(session_factory, "early-refund")
    refund = signed_envelope(
        "paystack",
        reversal_body("paystack", "early-refund", 100_000, "NGN", reversal_id="RF-early"),
        PAYSTACK_SECRET,
    )
    topic = main_topic(fast.topic_prefix)
    produce_records(fast.kafka_bootstrap, topic, [(b"early-refund", refund.to_bytes())])
    with capture_logs() as logs, worker(slow):
        # When it has waited on a retry topic and the success arrives
        eventually(
            lambda: any(e.get("error_class") == "ReversalBeforeCredit" for e in logs), seconds=60
        )
        success = paystack_envelope_bytes("early-refund")
        produce_records(fast.kafka_bootstrap, topic, [(b"early-refund", success)])
        # Then the credit applies, and the refund after it, once
        eventually(lambda: refunded(session_factory, "early-refund") == 100_000, seconds=60)
    assert credited_count(session_factory, "early-refund") == 1
    with session_factory() as session:
        balance = session.scalars(select(Wallet.balance)).one()
    assert balance == 400_000


def refunded(factory: sessionmaker[Session], reference: str) -> int:
    with factory() as session:
        payment = session.scalars(select(Payment).where(Payment.reference == reference)).one()
        return payment.refunded_amount
