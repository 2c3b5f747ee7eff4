"""The consumer's transactional producer, handling each librdkafka error class as documented
(rdkafka.h "Transactional producer API"; confluent-kafka-python `KafkaError.retriable()`,
`txn_requires_abort()`, `fatal()`):

- retriable (a timeout while the broker is away, a coordinator moving): the same call again,
  within the transaction's budget;
- abortable (`txn_requires_abort`): `abort_transaction`; the caller rewinds to the committed
  offsets and goes on;
- fatal (fenced, an unusable producer state) and anything else: the producer is closed and a new
  one with the same `transactional.id` is made. Its `init_transactions` fences the old one and
  settles the open transaction (completes a commit the coordinator had begun, aborts otherwise),
  so the committed offsets read afterwards are the truth.

Bounds: no librdkafka call blocks longer than `step` seconds (so SIGTERM is seen within about
`step` at any point). librdkafka does not always keep its own timeout: send_offsets_to_transaction
can block for minutes while the group coordinator moves (librdkafka issues #5456, #5511; seen
here after a broker restart). So every transactional call runs in a helper thread waited on for
`step` + 2 s at most; a call still blocked then is left behind with its producer (and its helper
thread: the next call gets a fresh one), and a new producer takes over (`Wedged` → renew). A
transaction is abandoned after `budget` seconds of retries or as soon as `stop` is set. Both
bounds derive from `max.poll.interval.ms` and `transaction.timeout.ms` (`TxnBounds.of`). An
abandoned transaction is recovered one bounded attempt at a time from the poll loop, which keeps
polling meanwhile, so the member keeps its place in the group and takes part in rebalances.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from consumer.domain.records import HandOff
from kernel.settings import ConsumerKnobs

log = structlog.get_logger("payhooks.consumer")

_ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner chooses


class Abandoned(Exception):
    """The transaction was given up; its records will be consumed again."""


class Wedged(Exception):
    """A librdkafka call did not return within its bound (it kept blocking past its timeout)."""


T = TypeVar("T")


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call()` in a helper thread of its own, waited on for `seconds` at most: its result or
    exception, or Wedged if it is still blocked (the thread is left behind; it ends when
    librdkafka returns). `Helper.run` does the same on a thread that outlives the call."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        outcome.append(_outcome(call))

    helper = threading.Thread(target=run, name="kafka-txn-call", daemon=True)
    helper.start()
    helper.join(seconds)
    return _result(outcome, seconds)  # type: ignore[return-value]  # `call()`'s own result


def _outcome(call: Callable[[], object]) -> tuple[bool, object]:
    try:
        return True, call()
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, re-raised there
        return False, exc


def _result(outcome: list[tuple[bool, object]], seconds: float) -> object:
    """The call's result, its exception raised, or Wedged if it has none yet."""
    if not outcome:
        raise Wedged(f"a Kafka transactional call still blocked after {seconds:.0f} s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value


class Helper:
    """`within`, on one long-lived thread: a call handed over costs two thread wake-ups instead
    of a thread's start and end (at 60 transactions/s, 0.14 ms per call typically and ~3 ms at
    its p99 on a busy host: the new thread waits for a core twice). The same bound: a call still
    blocked after `seconds` raises Wedged and is left behind with its thread, which ends once
    librdkafka returns; the next call starts a fresh thread. A call made while another is still
    running (never, the way the consumer calls: one transactional call at a time) gets a thread
    of its own, as `within` gives, so no call's wait includes another's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held while a call is handed over and waited on
        self._calls: queue.SimpleQueue[_Handed | None] | None = None  # None: no thread yet

    def run(self, seconds: float, call: Callable[[], T]) -> T:
        if not self._lock.acquire(blocking=False):
            return within(seconds, call)
        try:
            calls = self._calls
            if calls is None:
                calls = self._calls = queue.SimpleQueue()
                threading.Thread(
                    target=_serve, args=(calls,), name="kafka-txn-call", daemon=True
                ).start()
            handed = _Handed(call)
            calls.put(handed)
            if not handed.done.acquire(timeout=seconds):
                calls.put(None)  # the thread ends once the blocked call returns
                self._calls = None
            return _result(handed.outcome, seconds)  # type: ignore[return-value]  # call()'s
        finally:
            self._lock.release()

    def close(self) -> None:
        """Let the thread end (after the call it is running, if any)."""
        with self._lock:
            if self._calls is not None:
                self._calls.put(None)
                self._calls = None


class _Handed:
    def __init__(self, call: Callable[[], object]) -> None:
        self.call = call
        self.outcome: list[tuple[bool, object]] = []
        self.done = threading.Lock()
        self.done.acquire()  # released by the helper thread once `outcome` is set


def _serve(calls: queue.SimpleQueue[_Handed | None]) -> None:
    while (handed := calls.get()) is not None:
        handed.outcome.append(_outcome(handed.call))
        handed.done.release()


class Need(Enum):
    NOTHING = "nothing"
    ABORT = "abort"  # abort_transaction, then the producer is usable again
    RENEW = "renew"  # close this producer, make a new one
    INIT = "init"  # init_transactions on the new producer


@dataclass(frozen=True)
class TxnBounds:
    step: float  # longest one librdkafka call may block, seconds
    budget: float  # longest a transaction retries before it is abandoned, seconds

    @classmethod
    def of(cls, settings: ConsumerKnobs) -> TxnBounds:
        """Far inside max.poll.interval.ms (the loop polls again long before the group would
        evict the member) and inside transaction.timeout.ms (past it the coordinator aborts
        the transaction anyway)."""
        max_poll = settings.consumer_max_poll_interval_ms / 1000
        transaction = settings.consumer_transaction_timeout_ms / 1000
        return cls(step=min(2.0, max_poll / 20), budget=min(max_poll / 4, transaction / 2))


def kind_of(error: KafkaError) -> Need:
    """What an error leaves to do once the transaction is given up."""
    if error.fatal():
        return Need.RENEW
    if error.txn_requires_abort() or error.retriable():
        return Need.ABORT
    return Need.RENEW


class TransactionalProducer:
    def __init__(
        self, new: Callable[[], Producer], bounds: TxnBounds, stop: threading.Event
    ) -> None:
        self._new = new
        self.bounds = bounds
        self._stop = stop
        self._producer: Producer | None = None
        self.need = Need.RENEW
        self._pending_since = time.monotonic()  # when `need` last left NOTHING or renewed
        self._partitions: dict[str, int] = {}  # topic → its partition count, once known
        self._helper = Helper()

    def start(self) -> None:
        """init_transactions, one step at most: raises KafkaException if Kafka did not answer
        (call again: librdkafka resumes the same initialization)."""
        if self.need is Need.RENEW:
            self._producer = self._new()
            self.need = Need.INIT
        producer = self._producer
        assert producer is not None
        try:
            self._call(lambda: producer.init_transactions(self.bounds.step))
        except Wedged as exc:
            self._discard()
            self.need = Need.RENEW
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, str(exc))) from exc
        self.need = Need.NOTHING

    def _call(self, call: Callable[[], None]) -> None:
        self._helper.run(self.bounds.step + 2.0, call)

    # --- one transaction ---------------------------------------------------------------------

    def partitions(self, topic: str) -> int | None:
        """How many partitions `topic` has: asked once (one bounded metadata request), then
        remembered; None while unknown (no producer, Kafka did not answer, no such topic).
        Partitions added to a topic later are not used by hand-offs until a restart."""
        known = self._partitions.get(topic)
        producer = self._producer
        if known is not None or producer is None or self._stop.is_set():
            return known
        step = self.bounds.step
        try:
            metadata = self._helper.run(
                step + 2.0, lambda: producer.list_topics(topic, timeout=step)
            )
        except (KafkaException, Wedged) as exc:
            log.warning("kafka.error", error=str(exc), then="hand-offs partitioned by key")
            return None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            return None
        self._partitions[topic] = len(found.partitions)
        return self._partitions[topic]

    def transact(
        self,
        handoffs: Sequence[HandOff],
        offsets: list[TopicPartition],
        metadata: object,
        before_commit: Callable[[], None],
    ) -> None:
        """Produce the hand-offs and commit them with the offsets, or raise Abandoned (the
        producer then needs `recover()`)."""
        producer = self._producer
        assert producer is not None  # the caller recovered first
        assert self.need is Need.NOTHING
        deadline = time.monotonic() + self.bounds.budget
        try:
            producer.begin_transaction()
            for handoff in handoffs:
                producer.produce(
                    handoff.topic,
                    value=handoff.value,
                    key=handoff.key,
                    headers=list(handoff.headers),
                    partition=_ANY_PARTITION if handoff.partition is None else handoff.partition,
                )
            self._flush(producer, deadline)
            before_commit()
            step = self.bounds.step
            self._retry(
                lambda: producer.send_offsets_to_transaction(offsets, metadata, step), deadline
            )
            self._retry(lambda: producer.commit_transaction(step), deadline)
        except Wedged as exc:
            self._abandon(Need.RENEW)
            log.warning("kafka.transaction_abandoned", error=str(exc), then=self.need.value)
            raise Abandoned(str(exc)) from exc
        except KafkaException as exc:
            error = exc.args[0]
            self._abandon(kind_of(error))
            log.warning(
                "kafka.transaction_abandoned",
                error=error.str(),
                code=error.code(),
                retriable=error.retriable(),
                abortable=error.txn_requires_abort(),
                fatal=error.fatal(),
                then=self.need.value,
            )
            raise Abandoned(error.str()) from exc
        except Abandoned:
            self._abandon(Need.ABORT)
            raise

    def _abandon(self, need: Need) -> None:
        self.need = need
        self._pending_since = time.monotonic()

    def _flush(self, producer: Producer, deadline: float) -> None:
        while producer.flush(self.bounds.step) > 0:
            if self._stop.is_set() or time.monotonic() >= deadline:
                log.warning("kafka.transaction_abandoned", error="hand-offs not delivered in time")
                raise Abandoned("hand-offs not delivered in time")

    def _retry(self, call: Callable[[], None], deadline: float) -> None:
        """Repeat a retriable call until it succeeds, the budget is spent or stop is set."""
        attempt = 0
        while True:
            try:
                self._call(call)
                return
            except KafkaException as exc:
                error = exc.args[0]
                attempt += 1
                if not error.retriable() or self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                log.warning("kafka.transaction_retry", error=error.str(), attempt=attempt)

    # --- recovery ----------------------------------------------------------------------------

    def recover(self) -> bool:
        """One bounded step towards a usable producer; True once it is usable."""
        step = self.bounds.step
        try:
            if self.need is Need.ABORT:
                producer = self._producer
                assert producer is not None
                self._call(lambda: producer.abort_transaction(step))
                self.need = Need.NOTHING
            if self.need is Need.RENEW:
                self._discard()
                self._producer = self._new()
                self._abandon(Need.INIT)
            if self.need is Need.INIT:
                fresh = self._producer
                assert fresh is not None
                self._call(lambda: fresh.init_transactions(step))
                self.need = Need.NOTHING
        except Wedged as exc:
            self.need = Need.RENEW
            log.warning("kafka.recovery_pending", error=str(exc), then=self.need.value)
        except KafkaException as exc:
            error = exc.args[0]
            if error.fatal() or self._overdue():
                self.need = Need.RENEW
            elif self.need is Need.ABORT and error.code() != KafkaError._TIMED_OUT:
                # e.g. "Conflicting commit_transaction API call is already in progress": the
                # commit goes on in the background; a new producer's init settles it either way.
                self.need = Need.RENEW
            log.warning("kafka.recovery_pending", error=error.str(), then=self.need.value)
        return self.need is Need.NOTHING

    def _overdue(self) -> bool:
        """Recovery has taken longer than a transaction's budget: start over, new producer."""
        return time.monotonic() - self._pending_since > self.bounds.budget

    def _discard(self) -> None:
        """Drop the old producer without waiting on a broker that may be away."""
        if self._producer is not None:
            self._producer.purge(blocking=False)
            self._producer = None

    def close(self) -> None:
        """Abort what is open (one bounded attempt), deliver nothing more, let go."""
        if self.need is Need.ABORT:
            self.recover()
        self._discard()
        self._helper.close()
