"""The worker loop: poll a batch, hold records not due, settle the rest, hand off + commit."""

from __future__ import annotations

import os
import signal
import threading
import time

import structlog

from consumer.adapters.kafka import KafkaChannel
from consumer.adapters.metrics import METRICS
from consumer.bootstrap import CreditApp
from consumer.domain.records import Delivery, gate, next_offsets
from consumer.service_layer.batch import Result

log = structlog.get_logger("payhooks.consumer")

_EVENT_NAMES = {"retry": "retry.scheduled", "dlq": "dlq.published"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def process(app: CreditApp, channel: KafkaChannel, deliveries: list[Delivery]) -> None:
    now = now_ms()
    gated = gate(deliveries, now)
    for delivery in gated.held:
        channel.hold(delivery)
    METRICS.batch_size.observe(len(gated.ready))
    with METRICS.credit_seconds.time():
        results = app.handler.handle(gated.ready, now)
    _fault(app, "after_db_commit")
    handoffs = [r.handoff for r in results if r.handoff is not None]
    if channel.complete(
        handoffs, next_offsets(gated.ready), lambda: _fault(app, "after_handoff_produce")
    ):
        for result in results:
            log_result(result)


def log_result(result: Result) -> None:
    d = result.delivery
    fields = {
        "event_id": result.event_id,
        "reference": result.reference,
        "topic": d.topic,
        "partition": d.partition,
        "offset": d.offset,
    }
    METRICS.events.labels(result.outcome).inc()
    if result.handoff is None:
        log.info(f"credit.{result.outcome}", reason=result.reason or None, **fields)
        return
    error = {"error_class": type(result.error).__name__, "error": str(result.error)}
    if result.outcome == "rejected":
        log.warning("credit.rejected", reason=result.reason, **fields)
    name = _EVENT_NAMES.get(result.outcome, "dlq.published")
    log.warning(name, to_topic=result.handoff.topic, **error, **fields)


def _fault(app: CreditApp, point: str) -> None:
    """Test hook: die like `kill -9` at a named point (settings.consumer_fault_kill_at)."""
    if app.settings.consumer_fault_kill_at == point:
        log.warning("consumer.fault_injected", point=point)
        os.kill(os.getpid(), signal.SIGKILL)


def run(app: CreditApp, stop: threading.Event) -> None:
    channel = app.channel()
    channel.start()
    log.info("consumer.started", group=app.group, topics=app.source_topics)
    try:
        while not stop.is_set():
            now = now_ms()
            channel.resume_due(now)
            deliveries = channel.poll(app.settings.consumer_batch_size, channel.poll_timeout(now))
            if deliveries:
                process(app, channel, deliveries)
    finally:
        channel.close()
        log.info("consumer.stopped", group=app.group)


def main(app: CreditApp) -> None:
    """SIGTERM/SIGINT: finish the batch in hand, commit it, leave the group, exit 0."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(app, stop)
