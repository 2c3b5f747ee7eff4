"""A transactional call that blocks past its own timeout (librdkafka #5456: seen as
send_offsets_to_transaction hanging for minutes after a broker restart) never wedges the consumer:
the call is left behind, the transaction abandoned, and a new producer takes over."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from consumer.adapters.kafka_txn import Abandoned, Need, TransactionalProducer, TxnBounds


class FakeProducer:
    """Records the transactional calls; `send_offsets_to_transaction` blocks until released
    when `hangs` (ignoring its timeout, as librdkafka did)."""

    def __init__(self, release: threading.Event, *, hangs: bool) -> None:
        self.release = release
        self.hangs = hangs
        self.calls: list[str] = []

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def flush(self, _timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, *_args: object) -> None:
        self.calls.append("send_offsets")
        if self.hangs:
            self.release.wait()

    def commit_transaction(self, _timeout: float) -> None:
        self.calls.append("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")

    def purge(self, blocking: bool = True) -> None:
        self.calls.append("purge")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # lets the abandoned helper thread end


def test_a_call_blocked_past_its_timeout_is_abandoned_and_a_new_producer_takes_over(
    release: threading.Event,
) -> None:
    made: list[FakeProducer] = []

    def new() -> Producer:
        made.append(FakeProducer(release, hangs=not made))
        return made[-1]  # type: ignore[return-value]  # the fake stands in for the C producer

    txn = TransactionalProducer(new, TxnBounds(step=0.05, budget=5.0), threading.Event())
    txn.start()

    with pytest.raises(Abandoned):
        txn.transact([], [], None, lambda: None)

    assert txn.need is Need.RENEW
    assert txn.recover()
    txn.transact([], [], None, lambda: None)
    first, second = made
    assert first.calls == ["init", "begin", "send_offsets", "purge"]
    assert second.calls == ["init", "begin", "send_offsets", "commit"]


class CommitTimesOut(FakeProducer):
    """commit_transaction keeps timing out (retriable); abort then conflicts with the commit
    still going on in the background, as librdkafka answers after a timed-out commit."""

    def commit_transaction(self, _timeout: float) -> None:
        self.calls.append("commit")
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")
        raise KafkaException(
            KafkaError(
                KafkaError._CONFLICT,
                "Conflicting commit_transaction API call is already in progress",
                retriable=True,
            )
        )


def test_an_abort_refused_while_the_commit_goes_on_gives_way_to_a_new_producer(
    release: threading.Event,
) -> None:
    made: list[FakeProducer] = []

    def new() -> Producer:
        made.append(
            CommitTimesOut(release, hangs=False) if not made else FakeProducer(release, hangs=False)
        )
        return made[-1]  # type: ignore[return-value]  # the fake stands in for the C producer

    txn = TransactionalProducer(new, TxnBounds(step=0.01, budget=0.05), threading.Event())
    txn.start()

    with pytest.raises(Abandoned):
        txn.transact([], [], None, lambda: None)
    recovered = txn.recover()  # the abort conflicts: a new producer is due
    assert not recovered
    assert txn.need is Need.RENEW
    assert txn.recover()
    assert made[0].calls[-2:] == ["abort", "purge"]
    assert made[1].calls == ["init"]
