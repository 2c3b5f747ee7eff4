"""The seed's `credit_user` cases on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consumer.domain.credit import Verdict
from consumer.domain.errors import CreditMismatch, PaymentNotFound
from consumer.service_layer.credit import credit_payment, verified_event
from consumer.service_layer.unit_of_work import UnitOfWork
from payhooks.db.tables import LedgerTransaction, Payment, ProcessedEvent, Wallet
from producer_gateway.service_layer.payments import create_payment
from schemas.envelope import WebhookEnvelope, encode_body
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import paystack_body, signed_headers

pytestmark = pytest.mark.integration


def envelope_for(reference: str, amount: int = 500_000, currency: str = "NGN") -> WebhookEnvelope:
    body = paystack_body(reference, amount, currency)
    return WebhookEnvelope(
        event_id=f"evt-{reference}",
        provider="paystack",
        event_type="charge.success",
        reference=reference,
        received_at=datetime.now(UTC),
        raw_body=encode_body(body),
        signature_headers=signed_headers("paystack", body, PAYSTACK_SECRET),
    )


def given_payment(factory: sessionmaker[Session], reference: str, amount: int = 500_000) -> None:
    with factory() as session:
        create_payment(
            session,
            reference=reference,
            user_id="ada",
            amount=amount,
            currency="NGN",
            provider="paystack",
        )
        session.commit()


def credit(factory: sessionmaker[Session], envelope: WebhookEnvelope) -> Verdict:
    event = verified_event(envelope, [PAYSTACK_SECRET.encode()])
    return credit_payment(UnitOfWork(factory), envelope, event).verdict


def test_credit_updates_payment_log_to_completed(session_factory: sessionmaker[Session]) -> None:
    given_payment(session_factory, "ref-1")

    assert credit(session_factory, envelope_for("ref-1")) is Verdict.APPLY

    with session_factory() as session:
        payment = session.scalars(select(Payment).where(Payment.reference == "ref-1")).one()
        assert (payment.state, payment.credited) == ("completed", True)
        assert payment.processing_completed_at is not None


def test_credit_creates_the_transaction_record(session_factory: sessionmaker[Session]) -> None:
    given_payment(session_factory, "ref-2", 123_456)
    credit(session_factory, envelope_for("ref-2", 123_456))
    with session_factory() as session:
        row = session.scalars(select(LedgerTransaction)).one()
        wallet = session.scalars(select(Wallet)).one()
        assert (row.reference, row.amount, row.currency) == ("ref-2", 123_456, "NGN")
        assert wallet.balance == 123_456


def test_credit_prevents_double_crediting(session_factory: sessionmaker[Session]) -> None:
    given_payment(session_factory, "ref-3")
    first = credit(session_factory, envelope_for("ref-3"))
    second = credit(session_factory, envelope_for("ref-3"))
    assert (first, second) == (Verdict.APPLY, Verdict.DUPLICATE)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1
        assert session.scalars(select(Wallet.balance)).one() == 500_000


def test_credit_raises_on_missing_payment_log(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(PaymentNotFound, match="no payment has reference 'ghost'"):
        credit(session_factory, envelope_for("ghost"))


def test_amount_mismatch_is_recorded_and_not_credited(
    session_factory: sessionmaker[Session],
) -> None:
    given_payment(session_factory, "ref-4", 1_000)
    with pytest.raises(CreditMismatch):
        credit(session_factory, envelope_for("ref-4", 1_000_000))
    with session_factory() as session:
        payment = session.scalars(select(Payment)).one()
        assert not payment.credited
        assert "initialized for 1000 NGN" in (payment.flag_reason or "")
        assert session.scalars(select(ProcessedEvent.outcome)).one() == "rejected"
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0
