"""The worker loop: poll a batch, hold records not due, prepare the rest (decode, verify) and take
its free Redis locks while the batch before settles on the settle thread, then hand it over to be
settled (the locks still busy, database, hand-offs + offsets in one Kafka transaction). Settles
run one at a time, in order."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import structlog
from confluent_kafka import KafkaError, KafkaException
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from consumer.adapters.kafka import KafkaChannel
from consumer.adapters.kafka_txn import TxnBounds
from consumer.adapters.metrics import METRICS
from consumer.bootstrap import CreditApp
from consumer.domain.errors import ProviderMismatch
from consumer.domain.records import Delivery, gate, next_offsets
from consumer.entrypoints.probes import Health
from consumer.service_layer.batch import Outcome, Prepared, Result
from kernel.logs import info_lines

LOGGER = "payhooks.consumer"
log = structlog.get_logger(LOGGER)


# The longest the polling thread defers preparing a batch for the settle thread's computation
# (`Settling.until_waiting`): a batch's Python before its commit takes ~10-20 ms at 1,000
# records; a settle waiting on something else (a contended Redis lock, a provider's API) is not
# waited for longer than this.
PREPARE_AFTER_SECONDS = 0.1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def prepare(app: CreditApp, channel: KafkaChannel, deliveries: list[Delivery]) -> Prepared:
    """On the polling thread, CPU only: records not due are held (their partition paused), the
    rest decoded and verified. Nothing is committed: a prepared batch may still be dropped."""
    now = now_ms()
    gated = gate(deliveries, now, app.due_policy)
    for delivery in gated.held:
        channel.hold(delivery)
    return app.handler.prepare(gated.ready, now)


def settle(app: CreditApp, channel: KafkaChannel, prepared: Prepared, metadata: object) -> bool:
    """Locks, the database transaction, then the hand-offs and offsets in one Kafka transaction
    (the producer only: safe off the polling thread), then the batch's log lines. False if the
    transaction was abandoned: the caller must then call `channel.abandoned()`."""
    METRICS.batch_size.observe(len(prepared.deliveries))
    try:
        with METRICS.credit_seconds.time():
            results = app.handler.settle(prepared)
    finally:
        app.settle_waits.set()  # its commit is in, or it failed: nothing left to wait for
    fault_hook("after_db_commit")
    handoffs = [r.handoff for r in results if r.handoff is not None]
    offsets = next_offsets(prepared.deliveries)
    if not channel.transact(
        handoffs, offsets, metadata, lambda: fault_hook("after_handoff_produce")
    ):
        return False
    log_results(results)
    return True


class Settling:
    """The settle thread: at most one batch in flight, settled while the polling thread polls
    and prepares the next; the next is handed over only once it has finished (offsets
    committed), so settles stay in order, one at a time. psycopg2, redis-py and librdkafka
    release the GIL while they wait, so the polling thread's CPU work fills those waits.

    A revoke or loss of partitions (the rebalance callbacks, inside poll) first waits for the
    batch in flight (`KafkaChannel.before_revoke`): its transaction commits with the generation
    still current, and nothing is in flight when the partitions go."""

    def __init__(self, app: CreditApp, channel: KafkaChannel) -> None:
        self._app = app
        self._channel = channel
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consumer-settle")
        self._in_flight: Future[bool] | None = None
        self._abandoned = False  # a transaction was given up since `settled()` last answered
        channel.before_revoke = self.finish

    @property
    def busy(self) -> bool:
        return self._in_flight is not None

    def finish(self) -> None:
        """Wait for the batch in flight, if any. If its transaction was abandoned, the channel
        drops what was polled since and rewinds to the committed offsets."""
        future, self._in_flight = self._in_flight, None
        if future is not None and not future.result():
            self._abandoned = True
            self._channel.abandoned()

    def settled(self) -> bool:
        """`finish()`; False if a transaction was abandoned since the last call (here or in a
        rebalance callback): a batch prepared meanwhile must be dropped, not settled — its
        records come again after the rewind, none skipped."""
        self.finish()
        abandoned, self._abandoned = self._abandoned, False
        return not abandoned

    def until_waiting(self, timeout: float) -> None:
        """Wait, `timeout` at most, until the batch in flight waits on its database commit (or
        is past it, or there is none). The polling thread prepares the next batch then: both
        threads run Python under one GIL, and preparing while the settle thread computes its
        transaction (decisions, arrays) stretches the settle, the consumer's critical path,
        by what preparing takes; the commit round trip, most of a batch's time, leaves the
        GIL free (README Benchmarks: +7 % credits/s, same-sitting drains)."""
        self._app.settle_waits.wait(timeout)

    def hand_over(self, prepared: Prepared) -> None:
        assert self._in_flight is None, "settles run one at a time"
        metadata = self._channel.group_metadata()
        self._app.settle_waits.clear()
        self._in_flight = self._executor.submit(
            settle, self._app, self._channel, prepared, metadata
        )

    def close(self) -> None:
        """Finish the batch in flight (commit it, or give its transaction up if Kafka is away)."""
        try:
            self.finish()
        finally:
            self._executor.shutdown(wait=True)


def log_results(results: Sequence[Result]) -> None:
    """One line per record, in order, and the outcome counters once per batch. The common case
    (credited, duplicate, ignored: one line, its context passed with it) is written together
    (`kernel.logs.info_lines`: one timestamp, one write); a record that causes more than one
    line has its context bound for all of them (`log_result`)."""
    common: list[tuple[str, dict[str, object]]] = []
    for result in results:
        if result.handoff is None and not result.wallet_negative:
            common.append((result.outcome.log_event, _line_fields(result)))
            continue
        info_lines(LOGGER, common)
        common = []
        log_result(result, counted=True)
    info_lines(LOGGER, common)
    for outcome, count in Counter(r.outcome for r in results).items():
        METRICS.events.labels(outcome).inc(count)
    mismatches = sum(isinstance(r.error, ProviderMismatch) for r in results)
    if mismatches:
        METRICS.provider_mismatch.inc(mismatches)


def _line_fields(result: Result) -> dict[str, object]:
    d = result.delivery
    return {
        "reason": result.reason or None,
        "event_id": result.event_id,
        "reference": result.reference,
        "topic": d.topic,
        "partition": d.partition,
        "offset": d.offset,
    }


def log_result(result: Result, *, counted: bool = False) -> None:
    """One record's lines (and its counters, unless `log_results` counts the batch)."""
    d = result.delivery
    fields = {
        "event_id": result.event_id,
        "reference": result.reference,
        "topic": d.topic,
        "partition": d.partition,
        "offset": d.offset,
    }
    if not counted:
        METRICS.events.labels(result.outcome).inc()
        if isinstance(result.error, ProviderMismatch):
            METRICS.provider_mismatch.inc()
    if result.handoff is None and not result.wallet_negative:
        log.info(result.outcome.log_event, reason=result.reason or None, **fields)
        return
    # Bound, not passed: every line this record causes from here carries its context.
    with structlog.contextvars.bound_contextvars(**fields):
        if result.wallet_negative:
            METRICS.negative_wallets.inc()
            log.warning("reversal.wallet_negative")
        if result.handoff is None:
            log.info(result.outcome.log_event, reason=result.reason or None)
            return
        error = {"error_class": type(result.error).__name__, "error": str(result.error)}
        if result.outcome is Outcome.REJECTED:  # its own line, then where it went
            log.warning(Outcome.REJECTED.log_event, reason=result.reason)
        handed_to = Outcome.RETRY if result.outcome is Outcome.RETRY else Outcome.DLQ
        log.warning(handed_to.log_event, to_topic=result.handoff.topic, **error)


def _no_fault(_point: str) -> None:
    return None


# A test seam, not configuration: called at named points of a batch ("after_db_commit",
# "after_handoff_produce": on the settle thread; "after_prepare": on the polling thread, once a
# batch is prepared, before it waits for the one settling). Only code that imports the worker
# can replace it (the tests' `tests/fault_consumer.py` makes it SIGKILL the process); no setting
# reaches it.
fault_hook: Callable[[str], None] = _no_fault


# Errors no retry will fix: the operator must change the configuration.
_NOT_TRANSIENT = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)


def kafka_unavailable(exc: BaseException) -> bool:
    """A Kafka error that waiting may cure (unreachable, timed out), not a fatal or auth one."""
    if not isinstance(exc, KafkaException) or not isinstance(exc.args[0], KafkaError):
        return False
    error: KafkaError = exc.args[0]
    return not error.fatal() and error.code() not in _NOT_TRANSIENT


def _log_unavailable(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "consumer.kafka_unavailable",
        attempt=state.attempt_number,
        retry_in_seconds=round(state.upcoming_sleep, 1),
        error=str(error),
    )


def connect(
    app: CreditApp, stop: threading.Event, health: Health, prepare: Callable[[], object]
) -> KafkaChannel | None:
    """`prepare()` (e.g. check the topics) and join the group, retrying with capped exponential
    backoff while Kafka is unreachable; None if asked to stop before it answered."""
    channel = app.channel(stop)

    def attempt() -> None:
        health.beat()
        prepare()
        channel.start()

    def sleep(seconds: float) -> None:
        health.beat()
        stop.wait(seconds)

    retrying = Retrying(
        retry=retry_if_exception(kafka_unavailable),
        wait=wait_exponential_jitter(initial=1, max=30),
        stop=lambda _: stop.is_set(),
        sleep=sleep,
        before_sleep=_log_unavailable,
        reraise=True,
    )
    try:
        retrying(attempt)
    except KafkaException:
        if not stop.is_set():
            raise
        channel.close()
        return None
    return channel


def run(
    app: CreditApp,
    stop: threading.Event,
    health: Health | None = None,
    prepare: Callable[[], object] = lambda: None,
) -> None:
    health = health or Health(liveness_seconds=app.settings.consumer_liveness_seconds)
    channel = connect(app, stop, health, prepare)
    if channel is None:
        return
    log.info("consumer.started", group=app.group, topics=app.source_topics)
    settling = Settling(app, channel)
    try:
        loop(app, channel, settling, stop, health)
    finally:
        log.info("consumer.closing", group=app.group)
        try:
            settling.close()
        finally:
            channel.close()
        log.info("consumer.stopped", group=app.group)


def loop(
    app: CreditApp,
    channel: KafkaChannel,
    settling: Settling,
    stop: threading.Event,
    health: Health,
) -> None:
    """Poll and prepare batch N+1 and take its free Redis locks while batch N settles; then wait
    for N and hand N+1 over. A batch prepared while a transaction was abandoned, or when stop is
    set, is dropped uncommitted (redelivered), its locks released."""
    while not stop.is_set():
        now = now_ms()
        channel.resume_due(now)
        deliveries = channel.poll(
            app.settings.consumer_batch_size, channel.poll_timeout(now), recover=not settling.busy
        )
        health.beat(member=channel.member())
        if deliveries:
            settling.until_waiting(PREPARE_AFTER_SECONDS)
        prepared = prepare(app, channel, deliveries) if deliveries else None
        if prepared is not None:
            fault_hook("after_prepare")
            prepared = app.handler.reserve(prepared)
        hand_over_or_drop(app, settling, prepared, stop)


def hand_over_or_drop(
    app: CreditApp, settling: Settling, prepared: Prepared | None, stop: threading.Event
) -> None:
    """Wait for the batch in flight, then hand `prepared` over to be settled; or, if a
    transaction was abandoned meanwhile or stop is set, drop it: the locks it took ahead are
    given back at once (not left to their lease), its records come again."""
    handed = False
    try:
        if settling.settled() and prepared is not None and not stop.is_set():
            settling.hand_over(prepared)
            handed = True
    finally:
        if prepared is not None and not handed:
            app.handler.drop(prepared)


def main(
    app: CreditApp, health: Health | None = None, prepare: Callable[[], object] = lambda: None
) -> None:
    """SIGTERM/SIGINT: finish the batch being settled, commit it (or give its transaction up if
    Kafka is away), drop the one prepared (uncommitted: redelivered), leave the group,
    exit 0 — within `stop_grace_seconds(app)` or exit 1."""
    stop = threading.Event()
    watch_stop_signals(stop, stop_grace_seconds(app))
    run(app, stop, health, prepare)


def stop_grace_seconds(app: CreditApp) -> float:
    """The batch in hand (a Redis lock wait at worst) and five Kafka steps (its last call, one
    abort, leaving the group): 20 s by default."""
    return app.settings.redis_lock_wait_seconds + 5 * TxnBounds.of(app.settings).step


def watch_stop_signals(stop: threading.Event, grace: float) -> None:
    """Set `stop` on SIGTERM/SIGINT, and exit 1 if the process is still here `grace` s later.

    Python runs a signal handler only when the main thread is between bytecodes, never during a
    blocking C call (librdkafka's); the wakeup fd is written by the C-level handler at once, so a
    thread sees the signal at every point and enforces the bound."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def watch() -> None:
        os.read(read_end, 1)  # until a signal comes
        stop.set()
        time.sleep(grace)  # the process normally ends meanwhile, and this thread with it
        log.error("consumer.stop_forced", grace_seconds=grace)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
