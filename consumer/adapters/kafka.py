"""The consumer's Kafka side: a read_committed consumer group member over the main and retry
topics, and a transactional producer that publishes a batch's hand-offs and commits the batch's
offsets in ONE Kafka transaction (`send_offsets_to_transaction` with the group metadata).

Retry records that are not due yet are never slept on: their partition is paused and the
consumer seeks back to them, then keeps polling (so the group never evicts it) and resumes the
partition when due.

A transaction Kafka could not finish (consumer/adapters/kafka_txn.py) is abandoned: until the
producer is usable again, each poll makes one bounded recovery attempt and drops what it
consumed; once recovered, the consumer is rewound to its committed offsets and logs
`kafka.recovered` with how long Kafka was in the way.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from consumer.adapters.kafka_txn import Abandoned, TransactionalProducer, TxnBounds
from consumer.adapters.lag import LagMetrics
from consumer.adapters.metrics import METRICS
from consumer.domain.records import Delivery, HandOff, one_partition_per_topic
from consumer.settings import ConsumerSettings
from kernel.kafka_client import new_consumer, new_producer
from kernel.settings import ConsumerKnobs
from schemas.headers import decode_headers

log = structlog.get_logger("payhooks.consumer")


def instance_id(settings: ConsumerKnobs) -> str:
    """Names this member's transactional id. A restarted member that reuses it fences and
    aborts its predecessor's open transaction at once instead of after the timeout."""
    return settings.consumer_instance_id or f"{socket.gethostname()}-{os.getpid()}"


def consumer_settings(settings: ConsumerKnobs, group: str) -> dict[str, Any]:
    return {
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # Every member subscribes to the main topic and each retry topic. roundrobin deals
        # each topic's partitions out evenly over the members; cooperative-sticky balances only
        # the total count, and a member joining a running group was handed all 12 main
        # partitions while the first kept only retry partitions (librdkafka issue #4044): one
        # member did all the work. roundrobin's rebalances are eager (every member gives up
        # everything, then takes its new share); safe here: a revoke first waits for the batch
        # being settled, whose transaction commits its offsets with the still-current generation.
        "partition.assignment.strategy": "roundrobin",
        "session.timeout.ms": settings.consumer_session_timeout_ms,
        # Members learn of a rebalance from a heartbeat answer, so an eager rebalance stops the
        # group for up to this long: 1 s instead of librdkafka's 3 s (within a third of the
        # session timeout, as Kafka advises).
        "heartbeat.interval.ms": heartbeat_interval_ms(settings.consumer_session_timeout_ms),
        "max.poll.interval.ms": settings.consumer_max_poll_interval_ms,
        # Per-partition offsets for the lag metrics (consumer/adapters/lag.py), served on poll.
        "statistics.interval.ms": 10_000,
    }


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    return max(1, min(1_000, session_timeout_ms // 3))


def producer_settings(settings: ConsumerKnobs, group: str) -> dict[str, Any]:
    return {
        "transactional.id": f"{group}.{instance_id(settings)}",
        "transaction.timeout.ms": settings.consumer_transaction_timeout_ms,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # A transaction that starts while the broker still writes the previous one's commit
        # markers gets CONCURRENT_TRANSACTIONS on AddOffsetsToTxn, retried after
        # retry.backoff.ms: librdkafka's 100 ms (growing to 1 s) put ~100 ms under the tail of
        # every credit when batches follow each other closely; Kafka's Java client lowered
        # this retry to 20 ms for the same reason (KAFKA-5477).
        "retry.backoff.ms": 10,
        "retry.backoff.max.ms": 100,
    }


def to_delivery(message: Message) -> Delivery:
    raw_headers = message.headers() or []
    # A consumed record's headers are always a list of (name, bytes | None) pairs.
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    headers = decode_headers(pairs)
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    # A consumed (non-error) record always has all three.
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return Delivery(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=message.timestamp()[1],
        key=message.key(),
        value=message.value(),
        headers=headers,
    )


class KafkaChannel:
    """The consumer group member plus its transactional producer."""

    def __init__(
        self,
        settings: ConsumerSettings,
        group: str,
        topics: Sequence[str],
        lag: LagMetrics | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._lag = lag or LagMetrics(frozenset())
        self._consumer = new_consumer(
            settings,
            "consumer",
            {**consumer_settings(settings, group), "stats_cb": self._lag.on_stats},
        )
        bounds = TxnBounds.of(settings)
        self._txn = TransactionalProducer(
            lambda: new_producer(settings, "consumer", producer_settings(settings, group)),
            bounds,
            stop or threading.Event(),
        )
        self._step = bounds.step
        self._topics = list(topics)
        self._held: dict[tuple[str, int], int] = {}  # paused partition → due (epoch ms)
        self._rewind_pending = False  # polls dropped records: rewind once the producer is back
        self._failed_at: float | None = None  # monotonic: when a transaction was abandoned
        # Set by the worker: waits until the batch being settled (if any) has finished. Called
        # first thing by the revoke and lost callbacks, on the polling thread.
        self.before_revoke: Callable[[], None] = lambda: None

    def start(self) -> None:
        """init_transactions (bounded by one step; raises while Kafka does not answer, and may
        be called again), then subscribe."""
        self._txn.start()
        self._consumer.subscribe(
            self._topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    # --- rebalances ------------------------------------------------------------------------
    # Rebalance callbacks run inside poll, on the polling thread, while the previous batch may
    # still be settling on the worker's settle thread: `before_revoke` waits for it, so at a
    # revoke nothing is in flight and every settled offset is committed (with the generation
    # that is still current: the member rejoins only after the callback returned).

    def _assigned(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        METRICS.rebalances.labels("assigned").inc()
        log.info("consumer.partitions_assigned", partitions=_names(partitions))

    def _revoked(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        METRICS.rebalances.labels("revoked").inc()
        self.before_revoke()
        self._forget(partitions)
        log.info("consumer.partitions_revoked", partitions=_names(partitions))

    def _lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        METRICS.rebalances.labels("lost").inc()
        self.before_revoke()
        self._forget(partitions)
        log.warning("consumer.partitions_lost", partitions=_names(partitions))

    def _forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Held partitions leave this member resumed: librdkafka keeps a pause across a revoke
        and a later re-assignment (librdkafka issue #1849), so a held retry partition handed
        back after an eager rebalance would stay paused with nothing left to resume it. Resumed
        here, while still assigned (resuming right after a new assign() can void its start
        offset, librdkafka issue #2190)."""
        held = [
            TopicPartition(tp.topic, tp.partition)
            for tp in partitions
            if self._held.pop((tp.topic, tp.partition), None) is not None
        ]
        if held:
            try:
                self._consumer.resume(held)
            except KafkaException as exc:  # logged: the next assign of them is then fresh anyway
                log.warning("kafka.error", error=exc.args[0].str(), then="resume on revoke")

    # --- consuming -------------------------------------------------------------------------

    def poll(self, max_records: int, timeout: float, *, recover: bool = True) -> list[Delivery]:
        """Adaptive batching: every record already fetched, up to `max_records`, without
        waiting; when there is none, wait up to `timeout` for the first and take it with
        whatever arrived with it. A batch never waits to fill (`consume(n, timeout)` would wait
        for n records or the timeout): light traffic gives batches of one, and under load the
        records that arrive while a batch is credited make the next batch, up to the maximum.

        `recover=False` while a batch is being settled on another thread: its transaction owns
        the producer (it was usable when the batch was handed over), so no recovery step runs."""
        if recover and not self._usable():
            # Keeps the membership and serves rebalances; the records come again after the rewind.
            self._consumer.consume(max_records, min(timeout, self._step))
            return []
        messages = self._consumer.consume(max_records, 0)
        if not messages:
            messages = self._consumer.consume(1, timeout)
            if messages and max_records > 1:
                messages += self._consumer.consume(max_records - 1, 0)
        deliveries = []
        for message in messages:
            error = message.error()
            if error is None:
                deliveries.append(to_delivery(message))
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("kafka.error", error=error.str(), code=error.code())
        return deliveries

    def member(self) -> bool:
        """Joined the group (a member id from the coordinator) and, as of librdkafka's latest
        statistics, connected to a broker (a member id outlives a Kafka outage)."""
        return bool(self._consumer.memberid()) and self._lag.brokers_up

    def hold(self, delivery: Delivery) -> None:
        """Pause the record's partition and rewind to it; it is fetched again once resumed."""
        tp = TopicPartition(delivery.topic, delivery.partition, delivery.offset)
        self._consumer.pause([tp])
        self._consumer.seek(tp)
        self._held[(delivery.topic, delivery.partition)] = delivery.not_before_ms

    def resume_due(self, now_ms: int) -> None:
        due = [where for where, at in self._held.items() if at <= now_ms]
        if due:
            self._consumer.resume([TopicPartition(topic, partition) for topic, partition in due])
            for where in due:
                del self._held[where]

    def poll_timeout(self, now_ms: int, longest: float = 0.5) -> float:
        """Poll often enough to resume a held partition within one poll of its due time."""
        if not self._held:
            return longest
        return max(0.0, min(longest, (min(self._held.values()) - now_ms) / 1000))

    # --- the hand-off transaction ----------------------------------------------------------

    def complete(
        self,
        handoffs: Sequence[HandOff],
        offsets: dict[tuple[str, int], int],
        before_commit: Callable[[], None] = lambda: None,
    ) -> bool:
        """Publish the hand-offs and commit the offsets atomically. False if the transaction was
        abandoned (the consumer will be rewound to its committed offsets and see the records
        again: their database outcome is idempotent)."""
        if self.transact(handoffs, offsets, self.group_metadata(), before_commit):
            return True
        self.abandoned()
        self._usable()
        return False

    def group_metadata(self) -> object:
        """The member's group metadata (its generation) for a batch's transaction, taken on the
        polling thread when the batch is handed over: the generation cannot change before that
        transaction ends, as a revoke first waits for it (`before_revoke`)."""
        return self._consumer.consumer_group_metadata()

    def transact(
        self,
        handoffs: Sequence[HandOff],
        offsets: dict[tuple[str, int], int],
        metadata: object,
        before_commit: Callable[[], None] = lambda: None,
    ) -> bool:
        """`complete`'s transaction alone, safe on the settle thread (the producer only, never
        the consumer): False if it was abandoned, and then the polling thread calls
        `abandoned()` before it polls again."""
        if not handoffs and not offsets:
            return True
        positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        placed = one_partition_per_topic(handoffs, self._txn.partitions)
        try:
            self._txn.transact(placed, positions, metadata, before_commit)
        except Abandoned:
            return False
        self._lag.committed(offsets)
        return True

    def abandoned(self) -> None:
        """A transaction was abandoned: what was polled since is dropped, and the next polls
        recover the producer, then seek every assigned partition (held ones too) back to its
        committed offset, the earliest record not settled."""
        METRICS.transactions_abandoned.inc()
        self._rewind_pending = True
        self._failed_at = self._failed_at or time.monotonic()

    def _usable(self) -> bool:
        """One bounded recovery step if needed (producer, then rewind); True once usable."""
        if not self._txn.recover():
            return False
        if self._rewind_pending:
            try:
                self._rewind()
            except KafkaException as exc:
                log.warning("kafka.recovery_pending", error=exc.args[0].str(), then="rewind")
                return False
            self._rewind_pending = False
        if self._failed_at is not None:
            seconds = time.monotonic() - self._failed_at
            METRICS.kafka_recovery_seconds.observe(seconds)
            log.info("kafka.recovered", seconds=round(seconds, 3))
            self._failed_at = None
        return True

    def _rewind(self) -> None:
        assigned = self._consumer.assignment()
        for tp in self._consumer.committed(assigned, timeout=self._step):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self._held.clear()
        self._consumer.resume(assigned)

    def close(self) -> None:
        """Let go of an open transaction, then leave the group (the final revoke runs here)."""
        self._txn.close()
        self._consumer.close()


def _names(partitions: Iterable[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
