"""`payhooks sweep` on the real PostgreSQL and Kafka with a real credit consumer; the providers'
verify API is a scripted fake of our ProviderVerifier port (what it answers is the test's
given)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from kernel.db.tables import LedgerTransaction, Payment, Wallet
from kernel.settings import Settings
from kernel.topics import ensure_topics
from operations.sweep import SqlSweepLedger, Sweeper, kafka_publisher
from payments_api.adapters.payment_rows import create_payment
from schemas.names import main_topic
from schemas.providers.confirm import Confirmation, ConfirmedStatus
from schemas.sweep import SweepClaim, sweep_envelope
from tests.helpers import (
    ScriptedVerifier,
    credit_worker,
    eventually,
    produce_records,
    read_committed,
)

pytestmark = pytest.mark.integration
AMOUNT = 500_000


@pytest.fixture
def fast(settings: Settings) -> Settings:
    tuned = settings.model_copy(update={"retry_delays": (0.2, 0.3), "consumer_batch_size": 50})
    ensure_topics(tuned)
    return tuned


def processing_payment(factory: sessionmaker[Session], reference: str) -> None:
    """Initialized at the provider (processing); its webhook never comes."""
    with factory() as session:
        payment = create_payment(
            session,
            reference=reference,
            user_id=f"user-{reference}",
            amount=AMOUNT,
            currency="NGN",
            provider="paystack",
        )
        session.flush()
        session.execute(update(Payment).where(Payment.id == payment.id).values(state="processing"))
        session.commit()


def paid(reference: str, amount: int = AMOUNT) -> Confirmation:
    return Confirmation("paystack", reference, ConfirmedStatus.SUCCEEDED, amount, "NGN", "9")


def sweeper(
    settings: Settings,
    factory: sessionmaker[Session],
    verifier: ScriptedVerifier,
    *,
    claim_backoff: float = 300.0,
) -> Any:
    publish, _ = kafka_publisher(settings, main_topic(settings.topic_prefix))
    ledger = SqlSweepLedger(factory, claim_backoff=claim_backoff)
    return Sweeper(ledger, verifier, publish, older_than=0, expire_after=86_400)


def passes_at_once(sweeps: list[Any]) -> list[Counter[str]]:
    """One pass of each sweep, all released at the same moment; their counts."""
    barrier = threading.Barrier(len(sweeps))
    counts: list[Counter[str]] = []

    def one(sweep: Any) -> None:
        barrier.wait()
        counts.append(sweep.sweep_once())

    threads = [threading.Thread(target=one, args=(sweep,)) for sweep in sweeps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return counts


def payment_of(factory: sessionmaker[Session], reference: str) -> Payment:
    with factory() as session:
        return session.scalars(select(Payment).where(Payment.reference == reference)).one()


def test_two_concurrent_sweeps_credit_a_lost_webhook_payment_exactly_once(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a payment paid at the provider whose webhook was lost
    processing_payment(session_factory, "lost-1")
    verifier = ScriptedVerifier({"lost-1": paid("lost-1")})
    # (no back-off: both claim it, as two sweeps a back-off apart would)
    sweeps = [sweeper(fast, session_factory, verifier, claim_backoff=0) for _ in range(2)]
    # When two sweeps run at the same moment (both see it, both publish a claim)
    counts = passes_at_once(sweeps)
    assert [c["claimed"] for c in counts] == [1, 1]
    asked_again = ScriptedVerifier({"lost-1": paid("lost-1")})
    with capture_logs() as logs, credit_worker(fast, verifier=asked_again):
        # Then the consumer, confirming each claim with the provider, credits it once
        eventually(lambda: len(_settled(logs)) == 2, seconds=60)
    assert sorted(_settled(logs)) == ["credit.applied", "credit.duplicate"]
    assert asked_again.calls == [("paystack", "lost-1")] * 2  # each claim confirmed again
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1
        assert session.scalars(select(Wallet.balance)).one() == AMOUNT
    assert payment_of(session_factory, "lost-1").state == "completed"
    # And a later pass finds nothing left to do
    assert sweeps[0].sweep_once() == Counter()


def test_two_passes_without_a_consumer_publish_each_claim_once(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given three paid payments whose webhooks were lost, and no consumer running (wedged)
    references = ["flood-1", "flood-2", "flood-3"]
    for reference in references:
        processing_payment(session_factory, reference)
    verifier = ScriptedVerifier({reference: paid(reference) for reference in references})
    sweep = sweeper(fast, session_factory, verifier)
    # When the sweep passes twice in a row
    first, second = sweep.sweep_once(), sweep.sweep_once()
    # Then the first pass claims each one once, the second leaves them to their back-off
    assert (first, second) == (Counter({"claimed": 3}), Counter())
    records = read_committed(fast.kafka_bootstrap, main_topic(fast.topic_prefix), expect=3)
    assert sorted(r.key() for r in records) == [r.encode() for r in references]
    for reference in references:
        claimed = payment_of(session_factory, reference)
        assert (claimed.sweep_claims, claimed.state) == (1, "processing")
        assert claimed.sweep_claimed_at is not None


def test_concurrent_sweeps_publish_a_claim_once_per_back_off(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    processing_payment(session_factory, "race-1")
    verifier = ScriptedVerifier({"race-1": paid("race-1")})
    sweeps = [sweeper(fast, session_factory, verifier) for _ in range(2)]
    counts = passes_at_once(sweeps)
    # one sweep claims it; the other lost the guarded UPDATE (or no longer saw it as due)
    assert sum(c["claimed"] for c in counts) == 1
    records = read_committed(fast.kafka_bootstrap, main_topic(fast.topic_prefix), expect=1)
    assert [r.key() for r in records] == [b"race-1"]
    assert payment_of(session_factory, "race-1").sweep_claims == 1


def test_a_claim_is_repeated_after_its_back_off_which_doubles(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    processing_payment(session_factory, "slow-1")
    verifier = ScriptedVerifier({"slow-1": paid("slow-1")})
    published: list[str] = []
    ledger = SqlSweepLedger(session_factory, claim_backoff=300, claim_backoff_max=3600)
    sweep = Sweeper(
        ledger,
        verifier,
        lambda claims: published.extend(c.reference for c in claims),
        older_than=0,
        expire_after=86_400,
    )

    def claimed_ago(seconds: int) -> None:  # the clock moved on: the last claim is this old
        with session_factory() as session:
            session.execute(
                update(Payment).values(sweep_claimed_at=func.now() - timedelta(seconds=seconds))
            )
            session.commit()

    assert sweep.sweep_once() == Counter({"claimed": 1})
    claimed_ago(299)  # within the first back-off (300 s)
    assert sweep.sweep_once() == Counter()
    claimed_ago(301)
    assert sweep.sweep_once() == Counter({"claimed": 1})
    claimed_ago(400)  # the second claim's back-off is 600 s
    assert sweep.sweep_once() == Counter()
    claimed_ago(601)
    assert sweep.sweep_once() == Counter({"claimed": 1})
    assert published == ["slow-1"] * 3
    assert payment_of(session_factory, "slow-1").sweep_claims == 3


def test_claims_kafka_refused_are_released_and_claimed_again_next_pass(
    session_factory: sessionmaker[Session],
) -> None:
    processing_payment(session_factory, "refused-1")
    verifier = ScriptedVerifier({"refused-1": paid("refused-1")})
    published: list[str] = []

    def kafka_down(_: Any) -> None:
        raise RuntimeError("Kafka did not take 1 sweep claim(s)")

    ledger = SqlSweepLedger(session_factory)  # the default back-off (5 min)
    with pytest.raises(RuntimeError, match="Kafka did not take"):
        Sweeper(ledger, verifier, kafka_down, older_than=0, expire_after=86_400).sweep_once()
    released = payment_of(session_factory, "refused-1")
    assert (released.sweep_claims, released.sweep_claimed_at) == (0, None)
    recovered = Sweeper(
        ledger,
        verifier,
        lambda claims: published.extend(c.reference for c in claims),
        older_than=0,
        expire_after=86_400,
    )
    assert recovered.sweep_once() == Counter({"claimed": 1})  # not held back by a back-off
    assert published == ["refused-1"]
    assert payment_of(session_factory, "refused-1").sweep_claims == 1


def _settled(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [e["event"] for e in logs if e["event"] in ("credit.applied", "credit.duplicate")]


def test_a_forged_sweep_claim_credits_nothing(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given an attacker who can write to the topic, and a payment the provider says is unpaid
    processing_payment(session_factory, "forged-1")
    verifier = ScriptedVerifier(
        {"forged-1": Confirmation("paystack", "forged-1", ConfirmedStatus.PENDING)}
    )
    claim = SweepClaim(
        reference="forged-1", amount=AMOUNT, currency="NGN", swept_at="2026-11-28T00:00:00Z"
    )
    forged = sweep_envelope("paystack", claim)
    topic = main_topic(fast.topic_prefix)
    with capture_logs() as logs, credit_worker(fast, verifier=verifier):
        # When the forged claim is consumed
        produce_records(fast.kafka_bootstrap, topic, [(b"forged-1", forged.to_bytes())])
        # Then the provider is asked, does not confirm, and the claim is dead-lettered
        eventually(lambda: any(e["event"] == "dlq.published" for e in logs), seconds=60)
    assert verifier.calls == [("paystack", "forged-1")]
    assert payment_of(session_factory, "forged-1").credited is False
    dead = next(e for e in logs if e["event"] == "dlq.published")
    assert dead["error_class"] == "ConfirmationMismatch"


def test_an_abandoned_payment_past_expiry_is_failed_and_a_down_provider_waits(
    fast: Settings, session_factory: sessionmaker[Session]
) -> None:
    processing_payment(session_factory, "gone-1")
    processing_payment(session_factory, "down-1")
    verifier = ScriptedVerifier(
        {"gone-1": Confirmation("paystack", "gone-1", ConfirmedStatus.PENDING, None, None)}
    )
    swept = Sweeper(
        SqlSweepLedger(session_factory), verifier, lambda _: None, older_than=0, expire_after=0.001
    ).sweep_once()
    assert swept == Counter({"failed": 1, "unreachable": 1})
    assert payment_of(session_factory, "gone-1").state == "failed"
    assert payment_of(session_factory, "down-1").state == "processing"


def test_a_credit_that_lands_first_wins_over_failing(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    processing_payment(session_factory, "raced-1")
    with session_factory() as session:  # the webhook's credit committed meanwhile
        session.execute(update(Payment).values(state="completed", credited=True))
        session.commit()
    assert (
        SqlSweepLedger(session_factory).mark_failed(payment_of(session_factory, "raced-1").id, "x")
        is False
    )
    assert payment_of(session_factory, "raced-1").state == "completed"
