"""The gateway's one Kafka producer: idempotent, acks=all, its delivery reports served on the
event loop.

A request awaits its own delivery report. No poll thread: while any request awaits one, the
loop calls `poll(0)` every `POLL_INTERVAL_SECONDS` (and once a second when idle, for librdkafka's
log and error callbacks), so the reports settle their futures on the loop's own thread — no
thread taking the GIL per report, no cross-thread wake-up of the loop. librdkafka reports every
message by `message.timeout.ms` (= the publish timeout), delivered or failed, so a request
never waits longer than that plus one poll interval.
"""

from __future__ import annotations

import asyncio
from functools import partial
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
        # 1 ms. At 64 connections a webhook's 202 waits for its report, so the gateway's rate
        # is 64 / latency until its core is full, and on the bench host since 2026-12-05 it is
        # not (5 ms: core 0 58 % busy, p50 8 ms of which ~7 the publish): 5 -> 1 ms took the
        # accepted rate from ~8,700 to ~15,000/s (p50 8 -> 4.2 ms, core 0 85 % busy) at no
        # more CPU per webhook; 2 ms ~12,000/s, 0 within 2 % of 1 (eighth round, README
        # "Benchmarks"). 1, not 0: a partition's webhooks of the same millisecond still share a
        # produce request (librdkafka sends one per partition, ~60-70 µs of its broker thread
        # each), which counts where the core is full (seventh round, a host whose core was
        # full: 3 and 0 cost 6 and ~50 µs more CPU per webhook than 5).
        "linger.ms": 1,
        # lz4 vs none: the same CPU per webhook within noise (A/B, README "Benchmarks"); lz4
        # keeps the records small on the wire and on the broker's disk.
        "compression.type": "lz4",
        "message.timeout.ms": int(timeout_seconds * 1000),
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 1000,
    }


# While reports are awaited: ≤ 1 ms added to a 202. Not less: uvloop's timers are whole
# milliseconds (libuv); a `call_later` under 0.5 ms is a plain `call_soon` Handle (no `when()`).
POLL_INTERVAL_SECONDS = 0.001
IDLE_POLL_SECONDS = 1.0  # nothing awaited: librdkafka's log and error callbacks still served


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():  # its request was cancelled meanwhile (shutdown)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(PublishFailed(f"Kafka refused the event: {error.str()}"))


class KafkaPublisher:
    def __init__(self, settings: KafkaClientSettings, *, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._producer = new_producer(settings, "gateway", producer_settings(timeout_seconds))
        self._awaited = 0  # requests awaiting their delivery report
        self._poller: asyncio.TimerHandle | None = None  # the next poll
        self._poller_loop: asyncio.AbstractEventLoop | None = None  # the loop it runs on
        self._polling: asyncio.AbstractEventLoop | None = None  # the loop `_serve` polls on

    def _on_delivery(
        self, future: asyncio.Future[None], error: KafkaError | None, _: Message
    ) -> None:
        """A delivery report: served by `_serve`'s poll on the future's loop (settled right
        here; known without `get_running_loop()`, which in Python 3.11 makes a `getpid` system
        call), or by `close()`'s flush, which may run on another thread (handed to the loop)."""
        loop = future.get_loop()
        if loop is self._polling:
            _settle(future, error)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_settle, future, error)

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve the reports that arrived (their callbacks settle the futures right here, on
        the loop), then poll again: soon while any are awaited, else once a second."""
        self._polling = loop
        try:
            self._producer.poll(0)
        finally:
            self._polling = None
        delay = POLL_INTERVAL_SECONDS if self._awaited else IDLE_POLL_SECONDS
        self._poller = loop.call_later(delay, self._serve, loop)

    def _poll_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """A poll within `POLL_INTERVAL_SECONDS` on this loop (the idle one is brought forward;
        a publisher used from a new loop, e.g. in tests, starts polling there)."""
        poller = self._poller
        if poller is not None and self._poller_loop is loop:
            if poller.when() - loop.time() <= POLL_INTERVAL_SECONDS:
                return
            poller.cancel()
        self._poller_loop = loop
        self._poller = loop.call_later(POLL_INTERVAL_SECONDS, self._serve, loop)

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
        try:
            self._producer.produce(
                topic,
                value=value,
                key=key.encode(),
                headers=headers,
                on_delivery=partial(self._on_delivery, future),
            )
        except (BufferError, KafkaException) as exc:
            raise PublishFailed(f"Kafka cannot take the event now: {exc}") from exc
        self._awaited += 1
        self._poll_soon(loop)
        try:
            await future
        finally:
            self._awaited -= 1

    async def ready(self, topic: str) -> bool:
        """Kafka answers and the topic exists."""
        try:
            metadata = await asyncio.to_thread(self._producer.list_topics, topic, 2.0)
        except KafkaException:
            return False
        found = metadata.topics.get(topic)
        return found is not None and found.error is None

    def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        self._producer.flush(self.timeout_seconds)
