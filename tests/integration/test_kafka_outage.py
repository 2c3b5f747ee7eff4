"""A broker outage in the middle of the consumer's Kafka transaction (issue 17), on a PRIVATE
broker this module starts and stops (the shared one on 9092 is never touched).

The transaction is abandoned within its budget (never wedged), and once the broker is back the
consumer is rewound: the same records come again and commit once, the aborted hand-off stays
invisible. A stop (SIGTERM) set mid-retry ends the retries at once, and the channel closes while
the broker is still down.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import TopicPartition
from structlog.testing import capture_logs

from consumer.adapters.kafka import KafkaChannel
from consumer.domain.records import Delivery, HandOff, next_offsets
from consumer.settings import ConsumerSettings
from kernel.kafka_client import new_consumer
from kernel.settings import Settings
from kernel.topics import ensure_topics
from payhooks_devtools.chaos.faults import kill_hard
from payhooks_devtools.chaos.private_stack import free_port_pair
from payhooks_devtools.stack import default_cache_dir
from payhooks_devtools.stack.native import NativeKafka
from schemas.names import main_topic, retry_topic
from tests.conftest import PROJECT_ROOT
from tests.helpers import eventually, narrowed, produce_records, read_committed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeKafka]:
    state = PROJECT_ROOT / ".payhooks" / f"outage-{tmp_path_factory.getbasetemp().name}"
    broker = NativeKafka(f"127.0.0.1:{free_port_pair()}", state, default_cache_dir())
    broker.start(lambda _: None)
    yield broker
    broker.stop()


@pytest.fixture
def outage_settings(kafka: NativeKafka, stack_settings: Settings) -> Settings:
    token = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(
        update={
            "kafka_bootstrap": kafka.bootstrap,
            "topic_prefix": f"outage-{token}",
            "consumer_group": f"outage-{token}-credit",
            "consumer_instance_id": token,
            "topic_partitions": 1,
            "consumer_session_timeout_ms": 6000,
            "consumer_transaction_timeout_ms": 10_000,  # a 5 s retry budget
        }
    )
    ensure_topics(settings)
    produce_records(settings.kafka_bootstrap, main_topic(settings.topic_prefix), RECORDS)
    return settings


RECORDS: list[tuple[bytes | None, bytes | None]] = [(f"k{i}".encode(), b"v") for i in range(3)]


def poll_all(channel: KafkaChannel, count: int) -> list[Delivery]:
    got: list[Delivery] = []

    def enough() -> bool:
        got.extend(channel.poll(100, 0.5))
        return len(got) >= count

    eventually(enough, seconds=90, every=0)
    return got


def handoff(settings: Settings, delivery: Delivery) -> HandOff:
    return HandOff(retry_topic(settings.topic_prefix, 1), delivery.key, delivery.value, ())


def committed_offset(settings: Settings) -> int:
    consumer = new_consumer(settings, "test", {"group.id": settings.consumer_group})
    try:
        (tp,) = consumer.committed(
            [TopicPartition(main_topic(settings.topic_prefix), 0)], timeout=30
        )
        return tp.offset
    finally:
        consumer.close()


def test_an_outage_mid_transaction_is_abandoned_then_the_batch_commits_once_kafka_is_back(
    kafka: NativeKafka, outage_settings: Settings
) -> None:
    settings = outage_settings
    channel = KafkaChannel(
        narrowed(settings, ConsumerSettings),
        settings.consumer_group,
        [main_topic(settings.topic_prefix)],
    )
    channel.start()
    first = poll_all(channel, len(RECORDS))

    def stop_the_broker() -> None:
        kafka.stop()

    with capture_logs() as logs:
        # When: the broker stops after the hand-off was produced, before the offsets are sent.
        done = channel.complete(
            [handoff(settings, first[0])], next_offsets(first), before_commit=stop_the_broker
        )
        kafka.start(lambda _: None)
        # Then: the same records come again once the consumer is rewound, and commit.
        again = poll_all(channel, len(RECORDS))
        committed = channel.complete([handoff(settings, again[0])], next_offsets(again))
    channel.close()

    assert done is False
    assert [d.offset for d in again] == [d.offset for d in first]
    assert committed is True
    events = [entry["event"] for entry in logs]
    assert "kafka.transaction_abandoned" in events
    assert "kafka.recovered" in events
    assert committed_offset(settings) == len(RECORDS)
    retry = read_committed(
        settings.kafka_bootstrap, retry_topic(settings.topic_prefix, 1), expect=1
    )
    assert len(retry) == 1  # the aborted hand-off is invisible to read_committed readers


def test_a_stop_mid_retry_ends_the_retries_and_the_channel_closes_while_kafka_is_down(
    kafka: NativeKafka, outage_settings: Settings
) -> None:
    settings = outage_settings
    stop = threading.Event()
    channel = KafkaChannel(
        narrowed(settings, ConsumerSettings),
        settings.consumer_group,
        [main_topic(settings.topic_prefix)],
        stop=stop,
    )
    channel.start()
    batch = poll_all(channel, len(RECORDS))

    def broker_dies_then_sigterm() -> None:
        kill_hard(kafka.nodes[0].pid_file)
        stop.set()

    try:
        with capture_logs() as logs:
            done = channel.complete(
                [handoff(settings, batch[0])], next_offsets(batch), broker_dies_then_sigterm
            )
            channel.close()  # returns although the broker is gone
    finally:
        kafka.start(lambda _: None)

    assert done is False
    events = [entry["event"] for entry in logs]
    assert "kafka.transaction_abandoned" in events
    assert "kafka.transaction_retry" not in events  # the stop was honoured at the first failure
    assert committed_offset(settings) < len(RECORDS)
