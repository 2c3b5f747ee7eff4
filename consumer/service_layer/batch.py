"""One consumed batch → one result per record: credited/duplicate/ignored, or a hand-off to a
retry topic or the DLQ (as the retry policy decides). No Kafka I/O here: the caller publishes
the hand-offs and commits the offsets in one Kafka transaction."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from consumer.domain.credit import Verdict
from consumer.domain.errors import ConsumerError, PoisonMessage
from consumer.domain.records import (
    Delivery,
    HandOff,
    handoff_headers,
    header_problem,
    source_of,
)
from consumer.domain.retry_policy import DeadLetter, RetryPolicy
from consumer.service_layer.confirm import Confirmer
from consumer.service_layer.credit import CreditItem, CreditOutcome, credit_item
from consumer.service_layer.ports import Reservation
from consumer.service_layer.settle import Settler
from consumer.service_layer.sweep_claims import confirmed_claim
from kernel.provider_verify import ProviderVerifier
from schemas.envelope import WebhookEnvelope
from schemas.errors import MalformedEnvelope
from schemas.names import dlq_topic, retry_attempt_of, retry_topic
from schemas.sweep import is_sweep_claim


class Outcome(StrEnum):
    """What became of one record (also the `outcome` label of its metric)."""

    APPLIED = "applied"
    REVERSED = "reversed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"
    RETRY = "retry"
    DLQ = "dlq"

    @property
    def log_event(self) -> str:
        """The fixed, greppable name of the record's canonical log line."""
        return _LOG_EVENTS[self]

    @classmethod
    def of(cls, verdict: Verdict) -> Outcome:
        return _OUTCOMES[verdict]


_OUTCOMES = {verdict: Outcome(verdict.value) for verdict in Verdict}
_LOG_EVENTS = {
    Outcome.APPLIED: "credit.applied",
    Outcome.REVERSED: "credit.reversed",
    Outcome.DUPLICATE: "credit.duplicate",
    Outcome.IGNORED: "credit.ignored",
    Outcome.REJECTED: "credit.rejected",
    Outcome.RETRY: "retry.scheduled",
    Outcome.DLQ: "dlq.published",
}


class Result(NamedTuple):
    """What became of one record; `outcome.log_event` names its log line (a named tuple: one
    per record)."""

    delivery: Delivery
    outcome: Outcome
    event_id: str | None
    reference: str | None
    reason: str = ""
    handoff: HandOff | None = None
    error: ConsumerError | None = None
    wallet_negative: bool = False  # a reversal left the wallet below zero


class _Unconfirmed(NamedTuple):
    """An event the provider did not confirm: handed off without touching the database."""

    item: CreditItem
    error: ConsumerError


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch after `BatchHandler.prepare`: its records and what each decoded to; after
    `BatchHandler.reserve`, also the locks it took ahead."""

    deliveries: tuple[Delivery, ...]
    decoded: list[CreditItem | ConsumerError]
    now_ms: int
    reserved: Reservation | None = None


@dataclass
class BatchHandler:
    settler: Settler
    policy: RetryPolicy
    prefix: str
    group: str
    secrets: Callable[[str], Sequence[bytes]]
    verifier: ProviderVerifier | None = None  # confirms sweep claims again
    # confirms hash-only events and PAYHOOKS_CONFIRM_WITH_PROVIDER providers' successes
    confirmer: Confirmer | None = None

    def handle(self, deliveries: Sequence[Delivery], now_ms: int) -> list[Result]:
        return self.settle(self.prepare(deliveries, now_ms))

    def prepare(self, deliveries: Sequence[Delivery], now_ms: int) -> Prepared:
        """The CPU step: each record decoded and its signature verified again; no database,
        Redis or Kafka I/O (a sweep claim's provider check is the one exception, and it
        commits nothing). What it returns is settled later, or dropped (the records are
        redelivered): nothing here needs undoing."""
        return Prepared(tuple(deliveries), [self.decode(d) for d in deliveries], now_ms)

    def reserve(self, prepared: Prepared) -> Prepared:
        """The batch's Redis locks taken ahead (`Settler.reserve`: what is free now), while the
        batch before it settles; the batch is then settled (which adopts them) or dropped
        (`drop`: released)."""
        items = [item for item in prepared.decoded if isinstance(item, CreditItem)]
        return dataclasses.replace(prepared, reserved=self.settler.reserve(items))

    def drop(self, prepared: Prepared) -> None:
        """A prepared batch that will not be settled: the locks it took ahead, given back."""
        if prepared.reserved is not None:
            self.settler.release(prepared.reserved)

    def settle(self, prepared: Prepared) -> list[Result]:
        """The I/O step: provider confirmations, the Redis locks and the database transaction,
        then one result per record, in order."""
        try:
            return self._settle(prepared)
        finally:
            self.drop(prepared)  # nothing left once the settler adopted them

    def _settle(self, prepared: Prepared) -> list[Result]:
        deliveries, now_ms = prepared.deliveries, prepared.now_ms
        decoded = self._confirmed(prepared.decoded)
        items = [item for item in decoded if isinstance(item, CreditItem)]
        settled = iter(self.settler.settle(items, prepared.reserved))
        results: list[Result] = []
        for delivery, item in zip(deliveries, decoded, strict=True):
            if isinstance(item, CreditItem):
                results.append(self._result(delivery, item, next(settled), now_ms))
            elif isinstance(item, _Unconfirmed):
                results.append(self._hand_off(delivery, item.item, item.error, now_ms))
            else:
                results.append(self._hand_off(delivery, None, item, now_ms))
        return results

    def decode(self, delivery: Delivery) -> CreditItem | ConsumerError:
        """The record as a verified event, or the error to hand it off with (poison keeps the
        raw record intact). Nothing a record holds can raise out of here: whatever fails to
        read is poison, never a crash of the loop."""
        on_retry_topic = _attempt_of(self.prefix, delivery.topic) > 0
        problem = header_problem(delivery, on_retry_topic=on_retry_topic)
        if problem is not None:
            return PoisonMessage(problem, raw=delivery.value)
        try:
            envelope = WebhookEnvelope.from_bytes(delivery.value)
            if is_sweep_claim(envelope):
                return confirmed_claim(envelope, self.verifier)._replace(source=source_of(delivery))
            return credit_item(envelope, self.secrets(envelope.provider), source_of(delivery))
        except MalformedEnvelope as exc:
            return _poison(str(exc), delivery, exc)
        except ConsumerError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - any unreadable record is poison, never a crash
            return _poison(f"unreadable record: {type(exc).__name__}: {exc}", delivery, exc)

    def _confirmed(
        self, decoded: list[CreditItem | ConsumerError]
    ) -> list[CreditItem | ConsumerError | _Unconfirmed]:
        """Each event the provider must confirm, asked about (outside any transaction)."""
        if self.confirmer is None:
            return list(decoded)
        items = [(i, d) for i, d in enumerate(decoded) if isinstance(d, CreditItem)]
        problems = self.confirmer.problems([item for _, item in items])
        confirmed: list[CreditItem | ConsumerError | _Unconfirmed] = list(decoded)
        for (index, item), problem in zip(items, problems, strict=True):
            if problem is not None:
                confirmed[index] = _Unconfirmed(item, problem)
        return confirmed

    def _result(
        self, delivery: Delivery, item: CreditItem, outcome: CreditOutcome, now_ms: int
    ) -> Result:
        if outcome.error is None and outcome.verdict is not None:
            return Result(
                delivery,
                Outcome.of(outcome.verdict),
                item.event.event_id,
                item.event.reference,
                outcome.reason,
                wallet_negative=outcome.wallet_negative,
            )
        assert outcome.error is not None  # an outcome has a verdict or an error
        return self._hand_off(delivery, item, outcome.error, now_ms, outcome.verdict)

    def _hand_off(
        self,
        delivery: Delivery,
        item: CreditItem | None,
        error: ConsumerError,
        now_ms: int,
        verdict: Verdict | None = None,
    ) -> Result:
        attempt = _attempt_of(self.prefix, delivery.topic)
        decision = self.policy.decide(attempt, error, now_ms)
        if isinstance(decision, DeadLetter):
            topic, not_before, outcome = dlq_topic(self.prefix), now_ms, Outcome.DLQ
        else:
            topic = retry_topic(self.prefix, decision.retry_number)
            not_before, outcome = decision.not_before_ms, Outcome.RETRY
        headers = handoff_headers(
            delivery,
            group=self.group,
            attempts_made=decision.attempts_made,
            not_before_ms=not_before,
            now_ms=now_ms,
            error=error,
        )
        return Result(
            delivery,
            Outcome.REJECTED if verdict is Verdict.REJECT else outcome,
            item.event.event_id if item else None,
            item.event.reference if item else None,
            decision.reason if isinstance(decision, DeadLetter) else str(error),
            HandOff(topic, delivery.key, delivery.value, headers),
            error,
        )


def _poison(message: str, delivery: Delivery, cause: Exception) -> PoisonMessage:
    poison = PoisonMessage(message[:1000], raw=delivery.value)
    poison.__cause__ = cause
    return poison


@functools.lru_cache(maxsize=256)  # a member reads a handful of topics, twice per record
def _attempt_of(prefix: str, topic: str) -> int:
    try:
        return retry_attempt_of(prefix, topic)
    except ValueError:
        return 0
