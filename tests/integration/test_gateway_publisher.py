"""The gateway's Kafka publisher serves its delivery reports on the event loop (no poll thread):
every publish returns once Kafka holds its record, after an idle spell too, from whichever loop
uses it; and a broker that never answers fails the publish within the publish timeout."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from producer_gateway.adapters.kafka_publisher import (
    IDLE_POLL_SECONDS,
    KafkaPublisher,
    PublishFailed,
)
from schemas.names import main_topic
from tests.helpers import read_committed

pytestmark = pytest.mark.integration


async def _publish_all(publisher: KafkaPublisher, topic: str, keys: list[str]) -> None:
    await asyncio.gather(*(publisher.publish(topic, key=key, value=key.encode()) for key in keys))


def test_concurrent_publishes_each_return_once_kafka_holds_the_record(
    settings: Settings, topics: tuple[str, ...]
) -> None:
    topic = main_topic(settings.topic_prefix)
    threads_before = threading.active_count()
    publisher = KafkaPublisher(settings, timeout_seconds=10)
    try:
        # When 200 publishes run at once on one loop, then a second batch on a new loop after
        # the publisher went idle
        asyncio.run(_publish_all(publisher, topic, [f"a{n}" for n in range(200)]))

        async def later() -> None:
            await asyncio.sleep(IDLE_POLL_SECONDS * 1.5)
            await _publish_all(publisher, topic, [f"b{n}" for n in range(20)])

        asyncio.run(later())
        started_threads = threading.active_count() - threads_before
    finally:
        publisher.close()

    # Then every record is in Kafka, and no Python thread was started to poll
    values = {record.value() for record in read_committed(settings, topic, expect=220)}
    assert values == {f"{batch}{n}".encode() for batch, count in (("a", 200), ("b", 20))
                      for n in range(count)}  # fmt: skip
    assert started_threads == 0


def test_a_broker_that_never_answers_fails_the_publish(settings: Settings) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    publisher = KafkaPublisher(dead, timeout_seconds=1.0)
    try:
        with pytest.raises(PublishFailed):
            asyncio.run(publisher.publish("t", key="k", value=b"v"))
    finally:
        publisher.close()
