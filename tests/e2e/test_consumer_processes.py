"""Real `payhooks consumer` processes: scale-out, SIGKILL and SIGTERM, the atomic hand-off,
a paused retry partition, and Redis dying mid-run."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import LedgerTransaction, Payment, ProcessedEvent, Wallet
from kernel.kafka_client import new_consumer
from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payments_api.adapters.payment_rows import create_payment
from schemas.names import main_topic, retry_topic
from tests.helpers import (
    eventually,
    payhooks_process,
    paystack_envelope_bytes,
    produce_records,
    read_committed,
)

pytestmark = pytest.mark.e2e


def killed_at(point: str) -> list[str]:
    """The consumer, SIGKILLed by itself at `point` of a batch (tests/fault_consumer.py)."""
    return ["tests.fault_consumer", point]


FAST = {
    "PAYHOOKS_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "PAYHOOKS_CONSUMER_INPROCESS_ATTEMPTS": "2",
    "PAYHOOKS_CONSUMER_INPROCESS_WAIT_MAX_SECONDS": "0.01",
    "PAYHOOKS_RETRY_DELAYS": "200ms,200ms",
    "PAYHOOKS_CONSUMER_BATCH_SIZE": "50",
}


def given_payments(factory: sessionmaker[Session], count: int, prefix: str = "p") -> list[str]:
    references = [f"{prefix}{n}" for n in range(count)]
    with factory() as session:
        for n, reference in enumerate(references):
            create_payment(
                session,
                reference=reference,
                user_id=f"user{n % 50}",
                amount=1_000 + n,
                currency="NGN",
                provider="paystack",
            )
        session.commit()
    return references


def webhooks(references: list[str], times: int = 1) -> list[tuple[bytes | None, bytes | None]]:
    amounts = {reference: 1_000 + n for n, reference in enumerate(references)}
    return [
        (reference.encode(), paystack_envelope_bytes(reference, amounts[reference]))
        for _ in range(times)
        for reference in references
    ]


def ledger_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


def assert_exactly_once(factory: sessionmaker[Session], expected: int) -> None:
    with factory() as session:
        assert ledger_rows(factory) == expected
        assert session.scalar(select(func.count()).where(Payment.credited)) == expected
        sums = dict(
            session.execute(
                select(LedgerTransaction.wallet_id, func.sum(LedgerTransaction.amount)).group_by(
                    LedgerTransaction.wallet_id
                )
            ).all()
        )
        for wallet in session.scalars(select(Wallet)):
            assert wallet.balance == sums.get(wallet.id, 0)


def committed_total(settings: Settings, topic: str) -> int:
    """Sum of the group's committed offsets on `topic` (without joining the group)."""
    reader = new_consumer(settings, "test", {"group.id": settings.consumer_group})
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return sum(max(tp.offset, 0) for tp in reader.committed(partitions, timeout=30))
    finally:
        reader.close()


def log_events(path: Path) -> list[dict[str, object]]:
    events = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def named(path: Path, name: str) -> list[dict[str, object]]:
    return [e for e in log_events(path) if e.get("event") == name]


def owned(path: Path, topic: str) -> int:
    """How many of `topic`'s partitions the member logging to `path` owns now."""
    partitions: set[str] = set()
    for event in log_events(path):
        listed = event.get("partitions")
        names = {str(name) for name in listed} if isinstance(listed, list) else set()
        if event.get("event") == "consumer.partitions_assigned":
            partitions |= names
        elif event.get("event") in ("consumer.partitions_revoked", "consumer.partitions_lost"):
            partitions -= names
    return sum(1 for name in partitions if name.startswith(f"{topic}["))


def test_three_consumers_credit_1000_payments_published_3_times_exactly_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    references = given_payments(session_factory, 1_000)
    env = {**env_for, **FAST}
    logs = [tmp_path / f"consumer{n}.log" for n in range(3)]
    with (
        payhooks_process(["consumer"], env, logs[0]),
        payhooks_process(["consumer"], env, logs[1]),
        payhooks_process(["consumer"], env, logs[2]),
    ):
        # every member has its share OF THE MAIN TOPIC before the work arrives (the assignor
        # deals out each topic's partitions, not only their total over the main and retry
        # topics: cooperative-sticky once left one member with every main partition)
        main = main_topic(settings.topic_prefix)
        share = settings.topic_partitions // 3
        eventually(lambda: [owned(log, main) for log in logs] == [share] * 3)
        produce_records(settings.kafka_bootstrap, main, webhooks(references, 3))
        eventually(
            lambda: committed_total(settings, main_topic(settings.topic_prefix)) == 3_000,
            seconds=180,
            every=1,
        )
    assert_exactly_once(session_factory, 1_000)
    applied = [len(named(log, "credit.applied")) for log in logs]
    assert sum(applied) == 1_000
    # and the work was shared: every member credited some of it
    assert all(applied), applied


def test_a_consumer_killed_mid_batch_after_its_db_commit_credits_exactly_once_after_restart(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    references = given_payments(session_factory, 200)
    produce_records(
        settings.kafka_bootstrap, main_topic(settings.topic_prefix), webhooks(references)
    )
    env = {**env_for, **FAST}
    # When the first consumer dies like kill -9 after a batch's DB commit, before its offsets
    with payhooks_process(
        ["consumer"], env, tmp_path / "killed.log", module=killed_at("after_db_commit")
    ) as killed:
        assert killed.wait(120) == -signal.SIGKILL
    done_before = ledger_rows(session_factory)
    assert 0 < done_before < 200
    # Then a fresh consumer finishes the work, seeing the committed credits as duplicates
    with payhooks_process(["consumer"], env, tmp_path / "restarted.log"):
        eventually(
            lambda: committed_total(settings, main_topic(settings.topic_prefix)) == 200,
            seconds=120,
            every=1,
        )
    assert_exactly_once(session_factory, 200)
    assert len(named(tmp_path / "restarted.log", "credit.duplicate")) >= done_before


def test_a_kill_between_the_hand_off_publish_and_the_kafka_commit_loses_and_doubles_nothing(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    # Given a webhook that must go to the retry topic (its payment does not exist)
    produce_records(
        settings.kafka_bootstrap,
        main_topic(settings.topic_prefix),
        [(b"handoff", paystack_envelope_bytes("handoff"))],
    )
    env = {
        **env_for,
        **FAST,
        "PAYHOOKS_RETRY_DELAYS": "10m",  # the retry record stays put while we look
        "PAYHOOKS_CONSUMER_INSTANCE_ID": "kill-test",
    }
    # When the consumer dies after producing the hand-off but before committing the transaction
    with payhooks_process(
        ["consumer"], env, tmp_path / "killed.log", module=killed_at("after_handoff_produce")
    ) as killed:
        assert killed.wait(120) == -signal.SIGKILL
    # And a consumer restarts
    with payhooks_process(["consumer"], env, tmp_path / "restarted.log"):
        eventually(
            lambda: committed_total(settings, main_topic(settings.topic_prefix)) == 1,
            seconds=120,
            every=1,
        )
    # Then the retry topic holds the event exactly once (read_committed)
    retried = read_committed(
        settings.kafka_bootstrap, retry_topic(settings.topic_prefix, 1), expect=1, seconds=30
    )
    assert [r.key() for r in retried] == [b"handoff"]
    assert len(named(tmp_path / "killed.log", "consumer.fault_injected")) == 1


def test_sigterm_finishes_commits_and_exits_zero(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    references = given_payments(session_factory, 100)
    produce_records(
        settings.kafka_bootstrap, main_topic(settings.topic_prefix), webhooks(references)
    )
    log = tmp_path / "consumer.log"
    with payhooks_process(["consumer"], {**env_for, **FAST}, log) as process:
        eventually(lambda: ledger_rows(session_factory) == 100, seconds=120)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    assert committed_total(settings, main_topic(settings.topic_prefix)) == 100
    assert named(log, "consumer.stopped")


def test_a_paused_retry_partition_does_not_cost_the_group_membership(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    # Given a retry delay longer than max.poll.interval.ms
    env = {
        **env_for,
        **FAST,
        "PAYHOOKS_RETRY_DELAYS": "9s",
        "PAYHOOKS_CONSUMER_MAX_POLL_INTERVAL_MS": "6000",
    }
    produce_records(
        settings.kafka_bootstrap,
        main_topic(settings.topic_prefix),
        [(b"slow", paystack_envelope_bytes("slow"))],
    )
    log = tmp_path / "consumer.log"
    with payhooks_process(["consumer"], env, log):
        eventually(lambda: named(log, "retry.scheduled"), seconds=60)
        with session_factory() as session:
            create_payment(
                session,
                reference="slow",
                user_id="slowpoke",
                amount=500_000,
                currency="NGN",
                provider="paystack",
            )
            session.commit()
        # When the record waits out its delay in a paused partition
        eventually(lambda: ledger_rows(session_factory) == 1, seconds=60)
    # Then it was credited and the member was never revoked, lost or evicted on the way
    events = [e.get("event") for e in log_events(log)]
    assert events.count("consumer.partitions_assigned") == 1
    assert "consumer.partitions_lost" not in events
    assert "kafka.error" not in events
    stopping = events.index("consumer.stopped")
    assert "consumer.partitions_revoked" not in events[: events.index("credit.applied")]
    assert events.index("credit.applied") < stopping


def test_a_held_retry_partition_handed_back_after_a_rebalance_is_consumed_again(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    # Given a record waiting out its retry delay in a paused partition of the first member
    env = {**env_for, **FAST, "PAYHOOKS_RETRY_DELAYS": "15s"}
    produce_records(
        settings.kafka_bootstrap,
        main_topic(settings.topic_prefix),
        [(b"later", paystack_envelope_bytes("later"))],
    )
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    with payhooks_process(["consumer"], env, first):
        eventually(lambda: named(first, "retry.scheduled"), seconds=60)
        # When a second member joins and leaves (two eager rebalances: every partition is
        # revoked, and in the end all of them are the first member's again)
        with payhooks_process(["consumer"], env, second):
            eventually(lambda: named(second, "consumer.partitions_assigned"), seconds=60)
        # (assigned at the start, after the join, after the leave)
        eventually(lambda: len(named(first, "consumer.partitions_assigned")) >= 3)
        with session_factory() as session:
            create_payment(
                session,
                reference="later",
                user_id="patient",
                amount=500_000,
                currency="NGN",
                provider="paystack",
            )
            session.commit()
        # Then the retry partition it got back is not left paused: the record is credited
        eventually(lambda: ledger_rows(session_factory) == 1, seconds=60)


def test_redis_dying_mid_run_degrades_to_database_locking_and_stays_exactly_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    port = free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        references = given_payments(session_factory, 300)
        env = {
            **env_for,
            **FAST,
            "PAYHOOKS_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "PAYHOOKS_CONSUMER_BATCH_SIZE": "20",
        }
        log = tmp_path / "consumer.log"
        with payhooks_process(["consumer"], env, log):
            produce_records(
                settings.kafka_bootstrap,
                main_topic(settings.topic_prefix),
                webhooks(references[:100], 2),
            )
            eventually(lambda: ledger_rows(session_factory) == 100, seconds=120)
            # When Redis dies
            redis_server.kill()
            redis_server.wait()
            produce_records(
                settings.kafka_bootstrap, main_topic(settings.topic_prefix), webhooks(references, 2)
            )
            eventually(
                lambda: committed_total(settings, main_topic(settings.topic_prefix)) == 800,
                seconds=120,
                every=1,
            )
        # Then crediting went on, exactly once, and the degradation was logged
        assert_exactly_once(session_factory, 300)
        assert named(log, "lock.degraded")
        with session_factory() as session:
            assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 300
    finally:
        redis_server.kill()
        redis_server.wait()
