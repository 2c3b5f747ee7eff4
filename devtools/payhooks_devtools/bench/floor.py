"""The Kafka floor of the end-to-end latency: a bare `acks=all` produce → consume round trip on
the same broker, at a given rate, with nothing of payhooks in between.

One process, two clients: a producer (`acks=all`, idempotent, `linger.ms=0`: no batching delay)
sends small records at a fixed schedule; a consumer (`read_committed`, as the credit consumer
reads) assigned to the topic's end offsets before the first send receives them. A record's
latency is from just before its `produce()` to its arrival in the consumer. Whatever the
pipeline adds on top (gateway answer, consumer batching, PostgreSQL, the Kafka transaction) is
the end-to-end figure minus this.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # C extension, no stubs

from kernel.kafka_client import new_admin, new_consumer, new_producer
from kernel.settings import Settings

_STAMP = struct.Struct(">q")  # the send time, monotonic ns
RECEIVE_GRACE_SECONDS = 10.0


@dataclass
class RoundTrips:
    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0
    max_lag_ms: float = 0.0  # the latest a send went out after its scheduled time


def floor_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.floor"


def ensure_floor_topic(settings: Settings) -> str:
    """The floor's own topic, as many partitions as the main topic."""
    topic = floor_topic(settings)
    admin = new_admin(settings, "bench", {"log_level": 3})
    if topic not in admin.list_topics(timeout=30).topics:
        new = NewTopic(topic, num_partitions=settings.topic_partitions, replication_factor=1)
        for future in admin.create_topics([new], operation_timeout=30).values():
            future.result()
    return topic


class _Receiver(threading.Thread):
    """Consumes from the end offsets, noting each record's latency."""

    def __init__(self, settings: Settings, topic: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.latencies_ms: list[float] = []
        self._expected = expected
        self._finished = threading.Event()
        self.warmed = threading.Semaphore(0)  # released once per warm-up record received
        self._consumer = new_consumer(
            settings,
            "bench",
            {
                "group.id": f"{topic}-reader",  # assign() only: the group is never joined
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 100,
            },
        )
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        ends = [_end_offset(self._consumer, tp) for tp in parts]
        self._consumer.assign(
            [TopicPartition(topic, tp.partition, end) for tp, end in zip(parts, ends, strict=True)]
        )

    def run(self) -> None:
        try:
            while not self._finished.is_set() and len(self.latencies_ms) < self._expected:
                # One at a time: consume(n, timeout) would wait for n records or the timeout.
                message = self._consumer.poll(0.05)
                arrived = time.monotonic_ns()
                value = None if message is None or message.error() else message.value()
                if value is None:
                    continue
                sent = _STAMP.unpack_from(value)[0]
                if sent > 0:  # 0: a warm-up record
                    self.latencies_ms.append((arrived - sent) / 1e6)
                else:
                    self.warmed.release()
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._finished.set()


def _end_offset(consumer: Consumer, tp: TopicPartition) -> int:
    """The partition's high watermark, waiting out a new topic's leader election."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=10)[1])
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _warm_up(producer: Producer, receiver: _Receiver, topic: str, partitions: int) -> None:
    """One record per partition, received before timing starts: connections, metadata and
    every partition's fetch are up, so no round trip pays for them."""
    for partition in range(partitions):
        producer.produce(topic, value=_STAMP.pack(0), partition=partition)
    producer.flush(30)
    for _ in range(partitions):
        if not receiver.warmed.acquire(timeout=30):
            raise RuntimeError(f"bare Kafka round trip: warm-up records not consumed from {topic}")


def kafka_round_trips(settings: Settings, rate: float, seconds: float) -> RoundTrips:
    """Send `rate * seconds` records at `rate`/s and time each one's produce → consume."""
    topic = ensure_floor_topic(settings)
    count = max(1, round(rate * seconds))
    receiver = _Receiver(settings, topic, count)
    receiver.start()
    producer = new_producer(
        settings, "bench", {"acks": "all", "enable.idempotence": True, "linger.ms": 0}
    )
    _warm_up(producer, receiver, topic, settings.topic_partitions)
    result = RoundTrips(sent=count)
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        result.max_lag_ms = max(result.max_lag_ms, -delay * 1000)
        payload = _STAMP.pack(time.monotonic_ns()) + bytes(200)  # ~ an envelope's order
        producer.produce(topic, key=str(n).encode(), value=payload)
        producer.poll(0)
    producer.flush(30)
    receiver.join(timeout=RECEIVE_GRACE_SECONDS)
    receiver.stop()
    receiver.join()
    result.latencies_ms = receiver.latencies_ms
    return result
