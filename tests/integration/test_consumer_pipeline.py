"""The consumer's overlap (consumer/entrypoints/worker.py `Settling`): batch N+1 is polled and
prepared while batch N settles on the settle thread. On the real stack: a rebalance while a
settle is in flight, an abandoned transaction with the next batch already prepared, and a stop
while a batch is in flight."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from consumer.adapters.kafka_txn import Abandoned
from consumer.adapters.redis_lock import redis_client
from consumer.bootstrap import bootstrap
from consumer.entrypoints import worker
from consumer.settings import ConsumerSettings
from kernel.settings import Settings
from schemas.names import credit_lock_key, dlq_topic, main_topic
from tests.e2e.test_consumer_processes import (
    assert_exactly_once,
    committed_total,
    given_payments,
    ledger_rows,
    webhooks,
)
from tests.helpers import eventually, narrowed, produce_records, read_committed

WAIT = 30.0  # longest a hook waits for the other thread (a bound, never a timing assertion)


def tuned(settings: Settings, member: str, batch: int) -> Settings:
    return settings.model_copy(
        update={
            "consumer_batch_size": batch,
            "consumer_instance_id": member,
            "consumer_session_timeout_ms": 6_000,
            "consumer_inprocess_attempts": 2,
            "consumer_inprocess_wait_max_seconds": 0.01,
        }
    )


@contextmanager
def member(settings: Settings, stop: threading.Event | None = None) -> Iterator[threading.Thread]:
    """`worker.run` in a thread; stopped (if still running) and joined at the end."""
    app = bootstrap(narrowed(settings, ConsumerSettings))
    stop = stop or threading.Event()
    crashed: list[BaseException] = []

    def loop() -> None:
        try:
            worker.run(app, stop)
        except BaseException as exc:
            crashed.append(exc)  # recorded: the test fails if the loop ever raised
            raise

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(60)
        app.close()
    assert not thread.is_alive(), "the worker did not stop"
    assert not crashed, crashed


def locks_left(settings: Settings) -> list[bytes]:
    """The credit locks still in Redis under this test's prefix."""
    client = redis_client(settings.redis_url)
    try:
        return list(client.scan_iter(match=credit_lock_key(settings.topic_prefix, "*")))
    finally:
        client.close()


@pytest.fixture
def hook() -> Iterator[Callable[[Callable[[str], None]], None]]:
    def install(fault: Callable[[str], None]) -> None:
        worker.fault_hook = fault

    yield install
    worker.fault_hook = worker._no_fault


def test_a_member_joining_mid_drain_revokes_only_after_the_settle_in_flight_committed(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    hook: Callable[[Callable[[str], None]], None],
) -> None:
    # Given 300 payments' webhooks and a first member whose settles stay in flight a while
    references = given_payments(session_factory, 300)
    main = main_topic(settings.topic_prefix)
    produce_records(settings.kafka_bootstrap, main, webhooks(references))
    slow = threading.Event()

    def settle_slowly(point: str) -> None:  # widens the window a revoke can fall into
        if point == "after_db_commit":
            slow.wait(0.05)

    hook(settle_slowly)
    with capture_logs() as logs, member(tuned(settings, "first", 20)):
        eventually(lambda: ledger_rows(session_factory) > 0)
        # When a second member joins mid-drain (an eager rebalance: the first gives all up)
        with member(tuned(settings, "second", 20)):
            eventually(lambda: committed_total(settings, main) == 300, seconds=120, every=1)
            eventually(lambda: ledger_rows(session_factory) == 300, seconds=60, every=1)
    # Then every payment is credited exactly once, nothing is stuck, and no transaction was
    # given up: each revoke waited for the batch in flight, which committed in its generation
    assert_exactly_once(session_factory, 300)
    events = [entry["event"] for entry in logs]
    assert "consumer.partitions_revoked" in events
    assert "kafka.transaction_abandoned" not in events, [e for e in logs if "kafka" in e["event"]]


def test_an_abandoned_transaction_drops_the_prepared_next_batch_and_skips_nothing(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    hook: Callable[[Callable[[str], None]], None],
) -> None:
    # Given payments' webhooks with a poison record (dead-lettered by the hand-off) every third
    references = given_payments(session_factory, 30)
    records = webhooks(references)
    poison = [(f"poison{n}".encode(), b"not an envelope") for n in range(10)]
    mixed = [r for pair in zip(records[::3], poison, strict=True) for r in pair]
    mixed += [r for n, r in enumerate(records) if n % 3]
    main = main_topic(settings.topic_prefix)
    produce_records(settings.kafka_bootstrap, main, mixed)
    # And the first batch's transaction is given up only once the next batch is prepared
    prepared = threading.Semaphore(0)
    first = threading.Event()

    def fault(point: str) -> None:
        if point == "after_prepare":
            prepared.release()
        elif point == "after_handoff_produce" and not first.is_set():
            first.set()
            prepared.acquire(timeout=WAIT)  # the first batch's own
            assert prepared.acquire(timeout=WAIT), "no next batch was prepared"
            raise Abandoned("forced by the test")

    hook(fault)
    with capture_logs() as logs, member(tuned(settings, "solo", 5)):
        eventually(lambda: committed_total(settings, main) == len(mixed), seconds=120, every=1)
    # Then nothing was skipped: every credit once, every poison record dead-lettered once
    # (the first batch's aborted DLQ record was published again after the rewind)
    assert first.is_set()
    assert_exactly_once(session_factory, 30)
    dead = read_committed(settings.kafka_bootstrap, dlq_topic(settings.topic_prefix), expect=10)
    assert sorted(m.key() for m in dead) == sorted(key for key, _ in poison)
    events = [entry["event"] for entry in logs]
    assert "kafka.recovered" in events  # the producer recovered, then the rewind
    # And the dropped batch's locks, taken ahead, were given back (not left to their lease)
    assert locks_left(settings) == []


def test_a_stop_while_a_batch_settles_commits_it_and_drops_the_prepared_one(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    hook: Callable[[Callable[[str], None]], None],
) -> None:
    references = given_payments(session_factory, 40)
    main = main_topic(settings.topic_prefix)
    produce_records(settings.kafka_bootstrap, main, webhooks(references))
    stop = threading.Event()
    prepared = threading.Semaphore(0)
    credited_in_flight: list[int] = []

    def fault(point: str) -> None:
        if point == "after_prepare":
            prepared.release()
        elif point == "after_db_commit" and not stop.is_set():
            # When stop comes while the first batch settles and the next one is prepared
            prepared.acquire(timeout=WAIT)  # the first batch's own
            assert prepared.acquire(timeout=WAIT), "no next batch was prepared"
            credited_in_flight.append(ledger_rows(session_factory))
            stop.set()

    hook(fault)
    with member(tuned(settings, "stopped", 5), stop) as thread:
        thread.join(60)
        # Then the loop ends by itself
        assert not thread.is_alive()
    # And the batch in flight was committed, the prepared one neither credited nor committed
    assert credited_in_flight
    assert credited_in_flight[0] > 0
    assert ledger_rows(session_factory) == credited_in_flight[0]
    assert committed_total(settings, main) == credited_in_flight[0]
    # And the prepared one's locks, taken ahead while the first settled, were given back
    assert locks_left(settings) == []
    # And a restarted member credits the rest, exactly once
    hook(worker._no_fault)
    with member(tuned(settings, "restarted", 5)):
        eventually(lambda: committed_total(settings, main) == 40, seconds=120, every=1)
    assert_exactly_once(session_factory, 40)
