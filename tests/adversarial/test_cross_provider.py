"""Item 1, cross-provider forgery: whoever holds one provider's secret signs a success naming
another provider's payment. It is recorded as rejected, dead-lettered as ProviderMismatch,
counted, and never credited; the database refuses such a ledger row on its own."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.metrics import METRICS
from kernel.db.tables import LedgerTransaction, Payment
from kernel.settings import Settings
from payhooks_devtools.simulator.events import webhook_body
from schemas import headers as h
from schemas.names import dlq_topic, main_topic
from tests.adversarial.support import (
    adversarial_settings,
    credits_of,
    given_payment,
    header,
    outcome_of,
    published,
    signed,
    worker,
)
from tests.helpers import eventually, produce_records, read_committed

pytestmark = pytest.mark.integration


def test_another_providers_signed_success_never_credits_a_payment(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a Paystack payment, and body-signed successes for it from the three other providers
    # (no confirmation in the way: the binding alone must stop them)
    tuned = adversarial_settings(
        settings, confirm_with_provider=(), flutterwave_require_signature=True
    )
    forgers = ("flutterwave", "stripe", "standard")
    records = []
    for provider in forgers:
        reference = f"victim-{provider}"
        given_payment(session_factory, reference, provider="paystack")
        body = webhook_body(provider, reference, 500_000, "NGN")
        envelope = published(provider, body, signed(provider, body))
        records.append((reference.encode(), envelope.to_bytes()))
    mismatches_before = METRICS.provider_mismatch._value.get()

    # When the consumer reads them
    produce_records(tuned.kafka_bootstrap, main_topic(tuned.topic_prefix), records)
    with worker(tuned):
        dead = read_committed(tuned.kafka_bootstrap, dlq_topic(tuned.topic_prefix), expect=3)

    # Then nothing is credited, each is recorded rejected, dead-lettered with its own class
    for provider in forgers:
        assert credits_of(session_factory, f"victim-{provider}") == 0
        assert outcome_of(session_factory, f"victim-{provider}") == "rejected"
    assert (
        sorted(header(record, h.ERROR_CLASS) or "" for record in dead) == ["ProviderMismatch"] * 3
    )
    assert METRICS.provider_mismatch._value.get() - mismatches_before == 3
    with session_factory() as session:
        flagged = [
            session.query(Payment).filter_by(reference=f"victim-{p}").one().flag_reason
            for p in forgers
        ]
    assert all(reason and "initialized with paystack" in reason for reason in flagged)


def test_the_payments_own_provider_still_credits_it(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    tuned = adversarial_settings(settings)
    given_payment(session_factory, "own-provider", provider="paystack")
    body = webhook_body("paystack", "own-provider", 500_000, "NGN")
    envelope = published("paystack", body, signed("paystack", body))
    produce_records(
        tuned.kafka_bootstrap,
        main_topic(tuned.topic_prefix),
        [(b"own-provider", envelope.to_bytes())],
    )
    with worker(tuned):
        eventually(lambda: credits_of(session_factory, "own-provider") == 1)


def test_the_database_refuses_a_credit_naming_another_provider(
    session_factory: sessionmaker[Session],
) -> None:
    given_payment(session_factory, "db-bound", provider="paystack")
    with session_factory() as session:
        payment = session.query(Payment).filter_by(reference="db-bound").one()
        session.add(
            LedgerTransaction(
                reference=payment.reference,
                payment_id=payment.id,
                wallet_id=payment.wallet_id,
                amount=payment.amount,
                currency=payment.currency,
                event_id="forged",
                provider="flutterwave",
            )
        )
        with pytest.raises(IntegrityError, match="fk_ledger_transactions_payment_provider"):
            session.commit()
