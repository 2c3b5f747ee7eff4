"""The gateway's one Kafka producer: idempotent, acks=all, polled from a background thread.

A request awaits its own delivery report. The reports arrive on librdkafka's poll thread; each
poll's reports are handed to their requests' event loop together, with one
`call_soon_threadsafe` per loop (one wake-up of the loop, not one per report), never set from the
foreign thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from kernel.kafka_client import new_producer
from kernel.settings import KafkaClientSettings


class PublishFailed(Exception):
    """Kafka did not acknowledge the event; the sender should retry later."""


def producer_settings(timeout_seconds: float) -> dict[str, Any]:
    return {
        "enable.idempotence": True,
        "acks": "all",
        # 5 ms, not 2: under load more webhooks share a produce request per partition, which
        # cut the gateway's CPU per accepted webhook by ~10 % and its p50 too (payhooks bench,
        # README "Benchmarks"); an idle gateway's 202 waits at most these 5 ms longer.
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": int(timeout_seconds * 1000),
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 1000,
    }


_Report = tuple[asyncio.Future[None], KafkaError | None]


def _settle_all(reports: list[_Report]) -> None:
    for future, error in reports:
        _settle(future, error)


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():  # the request gave up waiting (timeout or client gone)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(PublishFailed(f"Kafka refused the event: {error.str()}"))


class KafkaPublisher:
    def __init__(self, settings: KafkaClientSettings, *, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._producer = new_producer(settings, "gateway", producer_settings(timeout_seconds))
        self._stop = threading.Event()
        # Delivery reports of the current poll, handed over when it returns (deque: appended on
        # whichever thread runs the callbacks, poll thread or close()'s flush).
        self._reports: deque[tuple[asyncio.AbstractEventLoop, _Report]] = deque()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        """The reports gathered so far to their loops: one `call_soon_threadsafe` per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Report]] = {}
        while self._reports:
            loop, report = self._reports.popleft()
            by_loop.setdefault(loop, []).append(report)
        for loop, reports in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_all, reports)

    async def publish(
        self,
        topic: str,
        *,
        key: str,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Return once Kafka holds the record; raise PublishFailed otherwise."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def on_delivery(error: KafkaError | None, _: Message) -> None:
            self._reports.append((loop, (future, error)))

        try:
            self._producer.produce(
                topic, value=value, key=key.encode(), headers=headers, on_delivery=on_delivery
            )
        except (BufferError, KafkaException) as exc:
            raise PublishFailed(f"Kafka cannot take the event now: {exc}") from exc
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await future
        except TimeoutError as exc:
            raise PublishFailed(
                f"Kafka did not acknowledge within {self.timeout_seconds:.0f} s"
            ) from exc

    async def ready(self, topic: str) -> bool:
        """Kafka answers and the topic exists."""
        try:
            metadata = await asyncio.to_thread(self._producer.list_topics, topic, 2.0)
        except KafkaException:
            return False
        found = metadata.topics.get(topic)
        return found is not None and found.error is None

    def close(self) -> None:
        self._producer.flush(self.timeout_seconds)
        self._stop.set()
        self._poller.join(timeout=2)
        self._hand_over()
