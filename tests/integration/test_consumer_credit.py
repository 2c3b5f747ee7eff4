"""The seed's `credit_user` / `credit_user_with_lock` cases and the concurrency cases, on the real
PostgreSQL and Redis (a dead port stands in for a Redis that is down)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from consumer.adapters.metrics import METRICS
from consumer.adapters.redis_lock import CreditLocks, redis_client
from consumer.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork
from consumer.domain.credit import Verdict
from consumer.domain.errors import LockTimeout, PaymentNotFound
from consumer.service_layer.credit import CreditItem, CreditOutcome, credit_batch, verified_event
from consumer.service_layer.settle import Settler
from kernel.db.tables import ConsumedRecord, LedgerTransaction, Payment, User, Wallet
from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payments_api.adapters.payment_rows import create_payment
from schemas.envelope import WebhookEnvelope
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import paystack_envelope_bytes

pytestmark = pytest.mark.integration


def item(reference: str, amount: int = 500_000, currency: str = "NGN") -> CreditItem:
    envelope = WebhookEnvelope.from_bytes(paystack_envelope_bytes(reference, amount, currency))
    return CreditItem(envelope, verified_event(envelope, [PAYSTACK_SECRET.encode()]))


def given_payment(
    factory: sessionmaker[Session], reference: str, amount: int = 500_000, user: str = "ada"
) -> None:
    with factory() as session:
        create_payment(
            session,
            reference=reference,
            user_id=user,
            amount=amount,
            currency="NGN",
            provider="paystack",
        )
        session.commit()


def locks_for(settings: Settings, *, url: str | None = None, **overrides: float) -> CreditLocks:
    options = {"lease_seconds": 30.0, "wait_seconds": 10.0, **overrides}
    return CreditLocks(
        redis_client(url or settings.redis_url),
        settings.topic_prefix,
        lease_seconds=options["lease_seconds"],
        wait_seconds=options["wait_seconds"],
    )


@pytest.fixture
def redis_conn(settings: Settings) -> Iterator[redis.Redis[bytes]]:
    client = redis_client(settings.redis_url)
    yield client
    client.close()


def settler(factory: sessionmaker[Session], locks: CreditLocks, attempts: int = 2) -> Settler:
    return Settler(lambda: UnitOfWork(factory), locks, attempts=attempts, wait_max_seconds=0.01)


def ledger_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


def balances_match_ledger(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        sums = dict(
            session.execute(
                select(LedgerTransaction.wallet_id, func.sum(LedgerTransaction.amount)).group_by(
                    LedgerTransaction.wallet_id
                )
            ).all()
        )
        return all(w.balance == sums.get(w.id, 0) for w in session.scalars(select(Wallet)))


def all_at_once(count: int, work: Callable[[], CreditOutcome]) -> list[CreditOutcome]:
    barrier = threading.Barrier(count)

    def task() -> CreditOutcome:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(count) as pool:
        return [f.result() for f in [pool.submit(task) for _ in range(count)]]


# --- the seed's credit_user cases -----------------------------------------------------------


def test_credit_prevents_double_crediting(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r1")
    credit = settler(session_factory, locks_for(settings))
    first = credit.settle([item("r1")])
    second = credit.settle([item("r1")])
    assert [o.verdict for o in first + second] == [Verdict.APPLY, Verdict.DUPLICATE]
    assert ledger_rows(session_factory) == 1


def test_credit_updates_payment_log_to_completed(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r2")
    settler(session_factory, locks_for(settings)).settle([item("r2")])
    with session_factory() as session:
        payment = session.scalars(select(Payment)).one()
        assert (payment.state, payment.credited) == ("completed", True)
        assert payment.processing_completed_at is not None


def test_credit_creates_the_transaction_record(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r3", 77_700)
    settler(session_factory, locks_for(settings)).settle([item("r3", 77_700)])
    with session_factory() as session:
        row = session.scalars(select(LedgerTransaction)).one()
        assert (row.reference, row.amount, row.currency) == ("r3", 77_700, "NGN")
        assert session.scalars(select(Wallet.balance)).one() == 77_700


def test_credit_reports_a_missing_payment_log_as_retryable_and_writes_nothing(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    (outcome,) = settler(session_factory, locks_for(settings)).settle([item("ghost")])
    assert outcome.verdict is None
    assert isinstance(outcome.error, PaymentNotFound)
    assert ledger_rows(session_factory) == 0


def test_a_missing_user_or_wallet_cannot_happen_the_schema_refuses_it(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    """The seed's "missing user" case: with our schema a payment always has its user and wallet
    (foreign keys), so what is worth testing is that they cannot be removed under it."""
    given_payment(session_factory, "r4")
    for statement in (delete(Wallet), delete(User)):
        with session_factory() as session, pytest.raises(IntegrityError):
            session.execute(statement)


# --- the seed's credit_user_with_lock cases -------------------------------------------------


def test_the_lock_is_held_during_the_work_and_released_after(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    locks = locks_for(settings)
    with locks.holding(["r5"]) as held:
        assert not held.timed_out
        assert redis_conn.get(locks.key("r5"))  # the owner's token
        assert 0 < redis_conn.pttl(locks.key("r5")) <= 30_000
    assert redis_conn.get(locks.key("r5")) is None


def test_a_second_holder_waits_until_the_first_releases(settings: Settings) -> None:
    locks_a, locks_b = locks_for(settings), locks_for(settings)
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with locks_a.holding(["r6"]):
            first_in.set()
            threading.Event().wait(0.3)
            order.append("first done")

    def second() -> None:
        first_in.wait(10)
        with locks_b.holding(["r6"]):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert order == ["first done", "second in"]


def test_the_lock_is_released_when_the_work_fails(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    locks = locks_for(settings)
    with pytest.raises(RuntimeError), locks.holding(["r7"]):
        raise RuntimeError("credit failed")
    assert redis_conn.get(locks.key("r7")) is None


def test_a_reservation_takes_the_free_locks_ahead_and_the_batch_adopts_them(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    # Given the next batch's locks taken ahead, while another batch holds one of its references
    locks = locks_for(settings)
    in_flight = redis_conn.lock(locks.key("ra2"), timeout=60)
    assert in_flight.acquire(blocking=False)
    reserved = locks.reserve(["ra1", "ra2", "ra3"])
    # Then the free ones are ours already, the busy one is left alone (never waited for)
    assert reserved.references == {"ra1", "ra3"}
    assert redis_conn.get(locks.key("ra1")) == reserved.token.encode()
    assert redis_conn.get(locks.key("ra2")) == in_flight.local.token
    # When the batch in flight releases its lock and the next batch settles
    in_flight.release()
    with locks.holding(["ra1", "ra2", "ra3"], reserved) as held:
        # Then it holds all three: the reserved two still, the busy one taken now
        assert not held.timed_out
        assert all(redis_conn.get(locks.key(r)) for r in ("ra1", "ra2", "ra3"))
        assert reserved.references == set()  # adopted: nothing left to give back
    # And every one is released at the end
    assert not any(redis_conn.get(locks.key(r)) for r in ("ra1", "ra2", "ra3"))


def test_a_release_of_more_keys_than_one_slice_frees_ours_and_leaves_a_taken_over_one_alone(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    # Given a holder of 2,500 references (the release script reads and deletes per 1,000 keys)
    locks = locks_for(settings)
    references = [f"rs{n}" for n in range(2_500)]
    with capture_logs() as logs, locks.holding(references):
        # When one key's lease ran out and another worker took it over (in the last slice: sorted)
        redis_conn.set(locks.key("rs999"), b"someone-else")
    # Then every key of ours is gone, the other worker's is left alone and reported
    left = list(redis_conn.scan_iter(match=locks.key("rs*"), count=5_000))
    assert left == [locks.key("rs999").encode()]
    assert redis_conn.get(locks.key("rs999")) == b"someone-else"
    expired = [e["key"] for e in logs if e["event"] == "lock.lease_expired"]
    assert expired == [locks.key("rs999")]


def test_a_dropped_batch_gives_its_reserved_locks_back_at_once(
    settings: Settings, redis_conn: redis.Redis[bytes]
) -> None:
    # Given a batch's locks taken ahead
    locks = locks_for(settings)
    reserved = locks.reserve(["rd1", "rd2"])
    assert redis_conn.get(locks.key("rd1"))
    # When the batch is dropped (never settled)
    locks.release(reserved)
    # Then the locks are free at once, not after their lease
    assert redis_conn.get(locks.key("rd1")) is None
    assert redis_conn.get(locks.key("rd2")) is None
    # And releasing again, or another holder taking them meanwhile, is left alone
    other = redis_conn.lock(locks.key("rd1"), timeout=60)
    assert other.acquire(blocking=False)
    locks.release(reserved)
    assert redis_conn.get(locks.key("rd1")) == other.local.token


def test_a_reservation_with_redis_down_takes_nothing_and_the_settle_degrades(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given Redis unreachable when the next batch's locks are taken ahead
    given_payment(session_factory, "rr1")
    locks = locks_for(settings, url=f"redis://127.0.0.1:{free_port()}/0")
    with capture_logs() as logs:
        reserved = locks.reserve(["rr1"])
        # When the batch settles with it
        outcomes = settler(session_factory, locks).settle([item("rr1")], reserved)
    # Then nothing was reserved, the credit went through on PostgreSQL's locks alone, once
    assert reserved.references == set()
    assert [o.verdict for o in outcomes] == [Verdict.APPLY]
    assert ledger_rows(session_factory) == 1
    assert any(e["event"] == "lock.degraded" for e in logs)


def test_a_lock_already_held_times_out_as_a_retryable_error_and_is_left_alone(
    settings: Settings, session_factory: sessionmaker[Session], redis_conn: redis.Redis[bytes]
) -> None:
    # Given another worker holds the reference's lock before we start
    given_payment(session_factory, "r8")
    locks = locks_for(settings, wait_seconds=0.2)
    other = redis_conn.lock(locks.key("r8"), timeout=60)
    assert other.acquire(blocking=False)
    try:
        # When we try to credit it
        (outcome,) = settler(session_factory, locks).settle([item("r8")])
        # Then we give up in time with a retryable error, credit nothing, and keep off its lock
        assert isinstance(outcome.error, LockTimeout)
        assert ledger_rows(session_factory) == 0
        assert other.owned()
    finally:
        other.release()


# --- concurrency --------------------------------------------------------------------------


def test_the_same_event_delivered_20_times_at_once_credits_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r9")
    outcomes = all_at_once(
        20, lambda: settler(session_factory, locks_for(settings)).settle([item("r9")])[0]
    )
    assert sorted(o.verdict or "" for o in outcomes) == ["applied"] + ["duplicate"] * 19
    assert ledger_rows(session_factory) == 1
    assert balances_match_ledger(session_factory)


def test_a_lease_shorter_than_the_credit_still_credits_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r10")
    with capture_logs() as logs:
        outcomes = all_at_once(
            20,
            lambda: settler(session_factory, locks_for(settings, lease_seconds=0.001)).settle(
                [item("r10")]
            )[0],
        )
    assert [o.verdict for o in outcomes].count(Verdict.APPLY) == 1
    assert ledger_rows(session_factory) == 1
    assert any(e["event"] == "lock.lease_expired" for e in logs)


def test_with_redis_down_credits_degrade_to_database_locking_and_stay_exactly_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    given_payment(session_factory, "r11")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    before = METRICS.lock_degraded._value.get()
    with capture_logs() as logs:
        outcomes = all_at_once(
            20,
            lambda: settler(session_factory, locks_for(settings, url=dead)).settle([item("r11")])[
                0
            ],
        )
    assert [o.verdict for o in outcomes].count(Verdict.APPLY) == 1
    assert all(o.error is None for o in outcomes)
    assert ledger_rows(session_factory) == 1
    assert any(e["event"] == "lock.degraded" for e in logs)
    assert METRICS.lock_degraded._value.get() > before


def test_a_batch_credits_each_reference_once_even_when_it_repeats_inside_the_batch(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    for n in range(10):
        given_payment(session_factory, f"b{n}", 1_000 + n, user=f"u{n % 3}")
    batch = [item(f"b{n}", 1_000 + n) for n in range(10)] * 2
    outcomes = settler(session_factory, locks_for(settings)).settle(batch)
    assert [o.verdict for o in outcomes] == [Verdict.APPLY] * 10 + [Verdict.DUPLICATE] * 10
    assert ledger_rows(session_factory) == 10
    assert balances_match_ledger(session_factory)


def test_a_batch_that_fails_as_a_whole_falls_back_so_a_bad_event_spares_its_neighbours(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given one payment whose credit would overflow its wallet (the database refuses it)
    for n in range(5):
        given_payment(session_factory, f"n{n}", user="neighbour")
    given_payment(session_factory, "overflow", 100, user="whale")
    with session_factory() as session:
        session.execute(
            update(Wallet)
            .where(
                Wallet.id
                == select(Payment.wallet_id)
                .where(Payment.reference == "overflow")
                .scalar_subquery()
            )
            .values(balance=2**63 - 10)
        )
        session.commit()
    batch = [item("n0"), item("n1"), item("overflow", 100), item("n2"), item("n3"), item("n4")]
    with capture_logs() as logs:
        outcomes = settler(session_factory, locks_for(settings)).settle(batch)
    # Then the neighbours are credited, and only the bad one carries an error
    assert [o.verdict for o in outcomes] == [Verdict.APPLY] * 2 + [None] + [Verdict.APPLY] * 3
    assert outcomes[2].error is not None
    assert ledger_rows(session_factory) == 5
    assert any(e["event"] == "credit.batch_fallback" for e in logs)


def test_racing_batches_in_different_orders_never_deadlock_and_credit_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    """Database locking only (Redis down), so the fixed row-lock order is what is tested."""
    references = [f"race{n}" for n in range(40)]
    for n, reference in enumerate(references):
        given_payment(session_factory, reference, 100 + n, user=f"racer{n % 4}")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    seeds = iter(range(100))

    def one_batch() -> CreditOutcome:
        order = [item(r, 100 + references.index(r)) for r in references]
        random.Random(next(seeds)).shuffle(order)
        outcomes = settler(session_factory, locks_for(settings, url=dead)).settle(order)
        assert all(o.error is None for o in outcomes)
        return outcomes[0]

    all_at_once(6, one_batch)
    assert ledger_rows(session_factory) == 40
    assert balances_match_ledger(session_factory)


# --- every record's outcome is recorded once, by its place in the main topic (issue 17) ----------


def test_each_records_outcome_is_recorded_once_even_when_it_is_settled_again(
    session_factory: sessionmaker[Session],
) -> None:
    given_payment(session_factory, "ref-rec")
    first, second, third = (
        item("ref-rec")._replace(source=("payments.webhooks", 0, offset)) for offset in (7, 8, 9)
    )

    credit_batch(UnitOfWork(session_factory), [first, second])
    # The same two records again (a crash before the Kafka commit), and the third copy.
    credit_batch(UnitOfWork(session_factory), [first, second, third])

    with session_factory() as session:
        rows = session.execute(
            select(ConsumedRecord.source_offset, ConsumedRecord.outcome).order_by(
                ConsumedRecord.source_offset
            )
        ).all()
    assert [tuple(row) for row in rows] == [(7, "applied"), (8, "duplicate"), (9, "duplicate")]
    assert ledger_rows(session_factory) == 1
