"""Refunds and lost disputes on the real PostgreSQL: one ledger row per provider refund/dispute
id, whatever the order and number of deliveries; the database itself refuses what the code must
never do (a reversal beyond the credit, a reversal of an uncredited payment)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.redis_lock import CreditLocks, redis_client
from consumer.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork
from consumer.domain.credit import Verdict
from consumer.domain.errors import ReversalBeforeCredit, ReversalRejected
from consumer.service_layer.credit import CreditItem, CreditOutcome, verified_event
from consumer.service_layer.settle import Settler
from kernel.db.tables import LedgerReversal, LedgerTransaction, Payment, Wallet
from kernel.settings import Settings
from operations.reconcile import reconcile
from payhooks_devtools.simulator.events import reversal_body, webhook_body
from payments_api.adapters.payment_rows import create_payment
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import signed_envelope

pytestmark = pytest.mark.integration

SECRETS = {
    "paystack": PAYSTACK_SECRET,
    "stripe": "whsec_test_reversals",
    "flutterwave": "flw-secret-hash-for-reversal-tests",
    "standard": "whsec_" + "c2VjcmV0LWtleS1mb3ItcmV2ZXJzYWwtdGVzdHMtMDA=",
}
AMOUNT = 500_000


def signed(provider: str, body: bytes) -> CreditItem:
    envelope = signed_envelope(provider, body, SECRETS[provider])
    return CreditItem(envelope, verified_event(envelope, [SECRETS[provider].encode()]))


def success(reference: str, provider: str = "paystack", amount: int = AMOUNT) -> CreditItem:
    return signed(provider, webhook_body(provider, reference, amount, "NGN"))


def refund(
    reference: str, amount: int, rid: str, provider: str = "paystack", kind: str = "refund"
) -> CreditItem:
    body = reversal_body(provider, reference, amount, "NGN", reversal_id=rid, kind=kind)
    return signed(provider, body)


def given_payment(
    factory: sessionmaker[Session], reference: str, provider: str = "paystack", user: str = "ada"
) -> None:
    with factory() as session:
        create_payment(
            session,
            reference=reference,
            user_id=user,
            amount=AMOUNT,
            currency="NGN",
            provider=provider,
        )
        session.commit()


def settler(settings: Settings, factory: sessionmaker[Session]) -> Settler:
    locks = CreditLocks(
        redis_client(settings.redis_url), settings.topic_prefix, lease_seconds=30, wait_seconds=10
    )
    return Settler(lambda: UnitOfWork(factory), locks, attempts=2, wait_max_seconds=0.01)


def state(factory: sessionmaker[Session], reference: str) -> tuple[str, int, int, int]:
    """(state, refunded_amount, wallet balance, reversal rows) of one payment."""
    with factory() as session:
        payment = session.scalars(select(Payment).where(Payment.reference == reference)).one()
        balance = session.scalars(select(Wallet.balance).where(Wallet.id == payment.wallet_id))
        rows = session.scalar(
            select(func.count())
            .select_from(LedgerReversal)
            .where(LedgerReversal.payment_id == payment.id)
        )
        return payment.state, payment.refunded_amount, balance.one(), int(rows or 0)


def verdicts(outcomes: list[CreditOutcome]) -> list[Verdict | None]:
    return [o.verdict for o in outcomes]


def test_a_refund_delivered_three_times_debits_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf1")
    credit = settler(settings, session_factory)
    credit.settle([success("rf1")])
    outcomes = [o for _ in range(3) for o in credit.settle([refund("rf1", AMOUNT, "RF-1")])]
    assert verdicts(outcomes) == [Verdict.REVERSE, Verdict.DUPLICATE, Verdict.DUPLICATE]
    assert state(session_factory, "rf1") == ("refunded", AMOUNT, 0, 1)


def test_three_deliveries_of_a_refund_at_once_debit_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf2")
    settler(settings, session_factory).settle([success("rf2")])
    barrier = threading.Barrier(3)

    def deliver() -> list[CreditOutcome]:
        barrier.wait()
        return settler(settings, session_factory).settle([refund("rf2", 1_000, "RF-2")])

    with ThreadPoolExecutor(3) as pool:
        results = [o for f in [pool.submit(deliver) for _ in range(3)] for o in f.result()]
    assert sorted(str(v) for v in verdicts(results)) == ["duplicate", "duplicate", "reversed"], [
        o.error for o in results
    ]
    assert state(session_factory, "rf2") == ("partially_refunded", 1_000, AMOUNT - 1_000, 1)


def test_a_partial_refund_then_the_rest_ends_refunded_with_the_wallet_back_to_zero(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf3")
    credit = settler(settings, session_factory)
    credit.settle([success("rf3")])
    credit.settle([refund("rf3", 200_000, "RF-3a")])
    assert state(session_factory, "rf3") == ("partially_refunded", 200_000, 300_000, 1)
    credit.settle([refund("rf3", 300_000, "RF-3b")])
    assert state(session_factory, "rf3") == ("refunded", AMOUNT, 0, 2)


def test_a_late_duplicate_success_after_a_refund_credits_nothing(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf4")
    credit = settler(settings, session_factory)
    credit.settle([success("rf4")])
    credit.settle([refund("rf4", AMOUNT, "RF-4")])
    (late,) = credit.settle([success("rf4")])
    assert late.verdict is Verdict.DUPLICATE
    assert state(session_factory, "rf4") == ("refunded", AMOUNT, 0, 1)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1


def test_a_refund_before_its_success_waits_then_applies(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf5")
    credit = settler(settings, session_factory)
    (early,) = credit.settle([refund("rf5", 100_000, "RF-5")])
    assert early.verdict is None
    assert isinstance(early.error, ReversalBeforeCredit)  # transient: it goes to a retry topic
    assert state(session_factory, "rf5") == ("pending", 0, 0, 0)
    credit.settle([success("rf5")])
    (again,) = credit.settle([refund("rf5", 100_000, "RF-5")])
    assert again.verdict is Verdict.REVERSE
    assert state(session_factory, "rf5") == ("partially_refunded", 100_000, 400_000, 1)


def test_a_success_and_its_refund_in_one_batch_credit_then_reverse(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf6")
    outcomes = settler(settings, session_factory).settle(
        [success("rf6"), refund("rf6", AMOUNT, "RF-6"), success("rf6")]
    )
    assert verdicts(outcomes) == [Verdict.APPLY, Verdict.REVERSE, Verdict.DUPLICATE]
    assert state(session_factory, "rf6") == ("refunded", AMOUNT, 0, 1)


def test_reversals_beyond_the_credit_are_rejected_and_debit_nothing(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "rf7")
    credit = settler(settings, session_factory)
    credit.settle([success("rf7")])
    credit.settle([refund("rf7", 400_000, "RF-7a")])
    (over,) = credit.settle([refund("rf7", 200_000, "RF-7b")])
    assert over.verdict is Verdict.REJECT
    assert isinstance(over.error, ReversalRejected)  # permanent: the DLQ
    assert state(session_factory, "rf7") == ("partially_refunded", 400_000, 100_000, 1)


def test_a_lost_dispute_charges_back_and_may_take_the_wallet_below_zero(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "cb1")
    credit = settler(settings, session_factory)
    credit.settle([success("cb1")])
    with session_factory() as session:  # the user spent the money (a payout elsewhere)
        session.execute(update(Wallet).values(balance=Wallet.balance - AMOUNT))
        session.commit()
    (lost,) = credit.settle([refund("cb1", AMOUNT, "DP-1", kind="chargeback")])
    assert lost.verdict is Verdict.REVERSE
    assert lost.wallet_negative
    assert state(session_factory, "cb1") == ("charged_back", AMOUNT, -AMOUNT, 1)


@pytest.mark.parametrize("provider", ["stripe", "flutterwave", "standard"])
def test_every_provider_refunds_and_charges_back_once(
    provider: str, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    """Stripe's refund names only the PaymentIntent: found by the id stored at credit time."""
    reference = f"pv-{provider}"
    given_payment(session_factory, reference, provider)
    credit = settler(settings, session_factory)
    assert verdicts(credit.settle([success(reference, provider)])) == [Verdict.APPLY]
    first = credit.settle([refund(reference, 100_000, f"re_{provider}", provider)] * 2)
    assert verdicts(first) == [Verdict.REVERSE, Verdict.DUPLICATE]
    lost = refund(reference, 400_000, f"dp_{provider}", provider, kind="chargeback")
    assert verdicts(credit.settle([lost])) == [Verdict.REVERSE]
    assert state(session_factory, reference) == ("charged_back", AMOUNT, 0, 2)


def _insert_reversal(
    factory: sessionmaker[Session], reference: str, amount: int, rid: str, *, times: int = 1
) -> None:
    """Insert the reversal row `times` times, each in its own transaction."""
    for _ in range(times):
        with factory() as session:
            payment = session.scalars(select(Payment).where(Payment.reference == reference)).one()
            session.add(
                LedgerReversal(
                    payment_id=payment.id,
                    wallet_id=payment.wallet_id,
                    provider="paystack",
                    reversal_id=rid,
                    kind="refund",
                    amount=amount,
                    currency="NGN",
                    event_id=rid,
                )
            )
            session.commit()


@pytest.mark.parametrize(
    ("credited", "write"),
    [
        (True, lambda f: _insert_reversal(f, "db1", AMOUNT + 1, "X-over")),
        (False, lambda f: _insert_reversal(f, "db1", 1, "X-uncredited")),
        (True, lambda f: _insert_reversal(f, "db1", 1, "X-dup", times=2)),
    ],
    ids=["beyond-the-credit", "not-credited", "same-refund-id-twice"],
)
def test_the_database_refuses_what_the_code_must_never_write(
    credited: bool,
    write: Callable[[sessionmaker[Session]], object],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    given_payment(session_factory, "db1")
    if credited:
        settler(settings, session_factory).settle([success("db1")])
    with pytest.raises(IntegrityError):
        write(session_factory)
    with session_factory() as session:
        assert session.execute(text("SELECT refunded_amount FROM payments")).scalar() in (0, 1)


def test_reconcile_holds_after_reversals_and_reports_a_negative_wallet_as_a_finding(
    settings: Settings, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    given_payment(session_factory, "rc1")
    given_payment(session_factory, "rc2", user="bob")
    credit = settler(settings, session_factory)
    credit.settle([success("rc1"), success("rc2")])
    credit.settle([refund("rc1", 100_000, "RC-1a"), refund("rc1", 400_000, "RC-1b")])
    with session_factory() as session:  # bob spent it all before his chargeback
        session.execute(
            update(Wallet).where(Wallet.balance == AMOUNT).values(balance=Wallet.balance - AMOUNT)
        )
        session.commit()
    credit.settle([refund("rc2", AMOUNT, "RC-2", kind="chargeback")])
    report = reconcile(engine, stuck_after_seconds=3600)
    kinds = {v.kind for v in report.violations}
    assert kinds == {"balance_mismatch"}  # the out-of-band spend is not in the ledger
    assert [(f.kind, f.value) for f in report.findings] == [("negative_wallet", "bob")]
    assert report.counts.reversal_rows == 3
    with session_factory() as session:  # reversal rows tampered with (no trigger on UPDATE)
        session.execute(update(LedgerReversal).values(amount=LedgerReversal.amount + 1))
        session.commit()
    kinds = {v.kind for v in reconcile(engine, stuck_after_seconds=3600).violations}
    assert "reversal_exceeds_credit" in kinds
