"""Kafka adapters for ops: read the DLQ without joining a group, publish replays to retry topic 1.

The reader assigns partitions itself (never subscribes) and never commits, so listing dead letters
moves no consumer group's offsets. It reads `read_committed`, as the DLQ is written in
transactions, and stops at each partition's end as it was when the read began.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kernel.kafka_client import bootstrap_servers, new_consumer, new_producer
from kernel.settings import KafkaClientSettings
from operations.dlq.dead_letters import DeadLetter, Position, decode_record, format_position
from operations.errors import KafkaUnavailable, PublishFailed, TopicMissing, UnknownOffset

# librdkafka insists on a group id even for assign(); this one is never joined nor committed to.
_READER_GROUP = "payhooks-ops-dlq-reader"


_READER: dict[str, Any] = {
    "group.id": _READER_GROUP,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "isolation.level": "read_committed",
    "enable.partition.eof": True,
    "auto.offset.reset": "earliest",
    "socket.connection.setup.timeout.ms": 3000,
    "reconnect.backoff.max.ms": 1000,
    # Connection failures come back as one OpsError line; librdkafka's own retries stay quiet.
    "log_level": 2,
}


def _unavailable(bootstrap: str, timeout: float, exc: KafkaException) -> KafkaUnavailable:
    cause = exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else str(exc)
    return KafkaUnavailable(
        f"Kafka at {bootstrap} did not answer within {timeout:.0f} s ({cause}); "
        "check `payhooks stack status` or --kafka-bootstrap"
    )


def _topic_partitions(
    client: Consumer | Producer, bootstrap: str, topic: str, timeout: float
) -> list[int]:
    try:
        metadata = client.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise _unavailable(bootstrap, timeout, exc) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicMissing(
            f"topic {topic} does not exist; check --topic-prefix (PAYHOOKS_TOPIC_PREFIX)"
        )
    return sorted(found.partitions)


def _where(message: Message) -> Position:
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise KafkaUnavailable("Kafka sent a record without a partition or offset")
    return partition, offset


def _letter(message: Message) -> DeadLetter:
    partition, offset = _where(message)
    _, timestamp_ms = message.timestamp()
    headers = message.headers() or []
    return decode_record(
        partition,
        offset,
        timestamp_ms,
        key=message.key(),
        value=message.value(),
        headers=list(headers.items()) if isinstance(headers, dict) else headers,
    )


class DlqReader:
    """Reads dead letters from one DLQ topic."""

    def __init__(self, kafka: KafkaClientSettings, topic: str, *, timeout: float = 5.0) -> None:
        self.kafka = kafka
        self.bootstrap = bootstrap_servers(kafka)
        self.topic = topic
        self.timeout = timeout

    def read_all(self) -> Iterator[DeadLetter]:
        """Every dead letter from the beginning up to the high watermarks taken at the start."""
        consumer = new_consumer(self.kafka, "ops", _READER)
        try:
            ends = self._watermarks(consumer)
            pending = {p for p, (low, high) in ends.items() if high > low}
            consumer.assign([TopicPartition(self.topic, p, ends[p][0]) for p in sorted(pending)])
            for message in self._messages(consumer, pending):
                partition, offset = _where(message)
                if offset >= ends[partition][1]:  # written after we started: not ours to show
                    pending.discard(partition)
                    continue
                if offset >= ends[partition][1] - 1:
                    pending.discard(partition)
                yield _letter(message)
        finally:
            consumer.close()

    def read_one(self, position: Position) -> DeadLetter:
        partition, offset = position
        consumer = new_consumer(self.kafka, "ops", _READER)
        try:
            ends = self._watermarks(consumer)
            if partition not in ends:
                raise UnknownOffset(
                    f"{self.topic} has no partition {partition} (it has 0..{max(ends)})"
                )
            low, high = ends[partition]
            if not low <= offset < high:
                held = f"offsets {low}..{high - 1}" if high > low else "no records"
                raise UnknownOffset(
                    f"no dead letter at {format_position(position)}: partition {partition} of "
                    f"{self.topic} holds {held}; `payhooks dlq list` shows what is there"
                )
            consumer.assign([TopicPartition(self.topic, partition, offset)])
            for message in self._messages(consumer, {partition}):
                if _where(message) == position:
                    return _letter(message)
                break
            raise UnknownOffset(
                f"no committed record at {format_position(position)} (a transaction marker or an "
                "aborted write); `payhooks dlq list` shows what is there"
            )
        finally:
            consumer.close()

    def _watermarks(self, consumer: Consumer) -> dict[int, tuple[int, int]]:
        partitions = _topic_partitions(consumer, self.bootstrap, self.topic, self.timeout)
        try:
            return {
                p: consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=self.timeout, cached=False
                )
                for p in partitions
            }
        except KafkaException as exc:
            raise _unavailable(self.bootstrap, self.timeout, exc) from exc

    def _messages(self, consumer: Consumer, pending: set[int]) -> Iterator[Message]:
        """Records of the `pending` partitions until each reports its end (the caller may discard
        partitions from `pending` early)."""
        deadline = time.monotonic() + self.timeout
        while pending:
            message = consumer.poll(0.5)
            if message is None:
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(
                        f"Kafka at {self.bootstrap} stopped sending {self.topic} records for "
                        f"{self.timeout:.0f} s; check `payhooks stack status`"
                    )
                continue
            deadline = time.monotonic() + self.timeout
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                if error.fatal() or not error.retriable():
                    raise KafkaUnavailable(f"reading {self.topic} failed: {error.str()}")
                continue
            yield message


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, str]]


class RetryPublisher:
    """An idempotent, acks=all producer that reports which records Kafka acknowledged."""

    def __init__(self, kafka: KafkaClientSettings, topic: str, *, timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap_servers(kafka)
        self.topic = topic
        self.timeout = timeout
        self._producer = new_producer(
            kafka,
            "ops",
            {
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": int(timeout * 1000),
                "socket.connection.setup.timeout.ms": 3000,
                "log_level": 2,
            },
        )

    def check_topic(self) -> None:
        _topic_partitions(self._producer, self.bootstrap, self.topic, min(self.timeout, 10.0))

    def publish(self, records: Sequence[OutgoingRecord]) -> list[bool]:
        """Send all, wait for every delivery report; True where Kafka acknowledged the record."""
        acked = [False] * len(records)
        errors: list[str] = []

        def reporter(index: int) -> Any:
            def on_delivery(error: KafkaError | None, _: Message) -> None:
                if error is None:
                    acked[index] = True
                else:
                    errors.append(error.str())

            return on_delivery

        for index, record in enumerate(records):
            try:
                self._producer.produce(
                    self.topic,
                    key=record.key,
                    value=record.value,
                    headers=[(name, value) for name, value in record.headers],
                    on_delivery=reporter(index),
                )
            except (BufferError, KafkaException) as exc:
                self._producer.flush(self.timeout)
                raise PublishFailed(f"Kafka cannot take the replay now: {exc}") from exc
        self._producer.flush(self.timeout)
        if errors and not any(acked):
            raise PublishFailed(f"Kafka refused the replayed records: {errors[0]}")
        return acked
