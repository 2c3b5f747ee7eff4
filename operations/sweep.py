"""`payhooks sweep`: payments nobody heard back about, settled by asking their provider.

A payment still `processing` after `--older-than` (its webhook was lost, the endpoint was down for
longer than the provider retries, …) is looked up at its provider's verify API:
- paid → a sweep claim is published to `<prefix>.webhooks`, keyed by the reference, like any
  webhook. The consumer asks the provider again before it credits (schemas/sweep.py): one credit
  path, the same exactly-once keys; two sweeps publishing the same claim credit once. A claim is
  first recorded on the payment in a guarded UPDATE (`sweep_claimed_at`, `sweep_claims`): a
  payment claimed is not claimed again, by this sweep or a concurrent one, until its back-off
  (`claim_backoff`, doubling with each claim, at most `claim_backoff_max`) has passed — a wedged
  consumer does not turn every pass into another claim of every paid payment.
- failed, unknown to the provider, or still unpaid past `--expire-after` (abandoned past the
  provider's expiry) → the payment is marked `failed`, guarded in SQL (`state = 'processing' AND
  NOT credited`), so a credit that lands first always wins.
- still unpaid within the expiry, or the provider does not answer → left for the next pass.

Each pass also prunes `consumed_records` past its retention (operations/prune.py).

The decision is a pure function (`decide`); the SQL, the provider API and Kafka are ports.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog
from confluent_kafka import KafkaError, Message
from prometheus_client import Counter as Counter_
from sqlalchemy import ColumnElement, Engine, func, or_, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.engine import make_session_factory
from kernel.db.tables import Payment, ProcessedEvent
from kernel.kafka_client import new_producer
from kernel.provider_verify import HttpProviderVerifier, ProviderUnreachable, ProviderVerifier
from kernel.settings import KafkaClientSettings
from operations.prune import prune_consumed_records
from operations.settings import SweepSettings
from schemas.envelope import WebhookEnvelope
from schemas.names import main_topic
from schemas.providers.base import deterministic_event_id
from schemas.providers.confirm import Confirmation, ConfirmedStatus
from schemas.states import PaymentState
from schemas.sweep import SWEEP_EVENT_TYPE, SweepClaim, sweep_envelope

log = structlog.get_logger("payhooks.sweep")

SWEPT = Counter_(
    "payhooks_sweep_payments_total",
    "Stale payments a sweep pass looked at, by outcome (claimed, failed, waiting, unreachable, "
    "backing_off).",
    ["outcome"],
)
PRUNED = Counter_(
    "payhooks_sweep_consumed_records_pruned_total",
    "consumed_records rows deleted past PAYHOOKS_CONSUMED_RECORDS_RETENTION.",
)
PASSES = Counter_(
    "payhooks_sweep_passes_total", "Sweep passes, by result (ok, failed).", ["result"]
)


class SweepOutcome(StrEnum):
    CLAIMED = "claimed"  # paid at the provider: a claim went to the consumer
    FAILED = "failed"  # the provider refused it, does not know it, or it expired unpaid
    WAITING = "waiting"  # unpaid, still within the provider's expiry
    UNREACHABLE = "unreachable"  # the provider did not answer; next pass
    BACKING_OFF = "backing_off"  # paid, but claimed within its back-off (a concurrent sweep)


@dataclass(frozen=True, slots=True)
class StalePayment:
    id: int
    reference: str
    provider: str
    amount: int
    currency: str
    created_at: datetime
    provider_txn_id: str | None


def decide(
    payment: StalePayment, confirmation: Confirmation | None, *, now: datetime, expire_after: float
) -> SweepOutcome:
    """What one pass does with one stale payment, given the provider's answer (None: none)."""
    if confirmation is None:
        return SweepOutcome.UNREACHABLE
    if confirmation.status is ConfirmedStatus.SUCCEEDED:
        return SweepOutcome.CLAIMED
    if confirmation.status in (ConfirmedStatus.FAILED, ConfirmedStatus.NOT_FOUND):
        return SweepOutcome.FAILED
    expired = now - payment.created_at >= timedelta(seconds=expire_after)
    return SweepOutcome.FAILED if expired else SweepOutcome.WAITING


class SweepLedger(Protocol):
    def stale(self, older_than: float, limit: int) -> list[StalePayment]: ...

    def mark_failed(self, payment_id: int, reason: str) -> bool: ...

    def claim(self, payment_id: int) -> bool:
        """Record a claim of the payment if its back-off has passed; True: publish it."""
        ...

    def release(self, payment_ids: Sequence[int]) -> None:
        """Undo the claims just recorded (their publish failed): claimable at once again."""
        ...


_MAX_DOUBLINGS = 30  # 2**30 times any back-off is past any cap; keeps power() from overflowing


class SqlSweepLedger:
    """`only`: restrict the sweep to these references (the demo sweeps its own payments only).
    `claim_backoff` seconds after a claim, a payment may be claimed again; the wait doubles with
    each claim of the payment, up to `claim_backoff_max` (Settings.sweep_claim_backoff[_max])."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        only: frozenset[str] | None = None,
        *,
        claim_backoff: float = 300.0,
        claim_backoff_max: float = 3600.0,
    ) -> None:
        self._sessions = sessions
        self._only = only
        self._backoff = claim_backoff
        self._backoff_max = max(claim_backoff, claim_backoff_max)

    def _claim_due(self) -> ColumnElement[bool]:
        """Never claimed, or its last claim is older than its back-off (the database's clock:
        clock_timestamp(), not the transaction's start, so a concurrent claim that committed while
        this UPDATE waited for the row is seen as just made)."""
        doublings = func.least(func.greatest(Payment.sweep_claims - 1, 0), _MAX_DOUBLINGS)
        wait = func.least(self._backoff_max, self._backoff * func.power(2, doublings))
        return or_(
            Payment.sweep_claimed_at.is_(None),
            Payment.sweep_claimed_at
            <= func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, wait),
        )

    def stale(self, older_than: float, limit: int) -> list[StalePayment]:
        """Processing for longer than `older_than` seconds, not flagged, not claimed within its
        back-off, and not already decided by the consumer from an earlier sweep's claim; oldest
        first."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        with self._sessions() as session:
            rows = session.scalars(
                select(Payment)
                .where(
                    Payment.state == PaymentState.PROCESSING,
                    Payment.credited.is_(False),
                    Payment.flag_reason.is_(None),
                    Payment.updated_at < cutoff,
                    self._claim_due(),
                    Payment.reference.in_(self._only) if self._only is not None else true(),
                )
                .order_by(Payment.updated_at, Payment.id)
                .limit(limit)
            ).all()
            claimed = set(
                session.scalars(
                    select(ProcessedEvent.event_id).where(
                        ProcessedEvent.event_id.in_(
                            [_claim_id(p.provider, p.reference) for p in rows]
                        )
                    )
                ).all()
            )
        return [
            StalePayment(
                p.id, p.reference, p.provider, p.amount, p.currency, p.created_at, p.provider_txn_id
            )
            for p in rows
            if _claim_id(p.provider, p.reference) not in claimed
        ]

    def mark_failed(self, payment_id: int, reason: str) -> bool:
        return self._still_processing(
            payment_id, (), {"state": PaymentState.FAILED, "flag_reason": reason[:1000]}
        )

    def claim(self, payment_id: int) -> bool:
        """Guarded: of two sweeps claiming the same payment at once, one gets the row (the other's
        UPDATE re-checks the condition after the first commits and matches nothing)."""
        return self._still_processing(
            payment_id,
            (self._claim_due(),),
            {
                "sweep_claimed_at": func.clock_timestamp(),
                "sweep_claims": Payment.sweep_claims + 1,
                "updated_at": Payment.updated_at,  # a claim is not a change of the payment
            },
        )

    def release(self, payment_ids: Sequence[int]) -> None:
        with self._sessions() as session:
            session.execute(
                update(Payment)
                .where(Payment.id.in_(payment_ids), Payment.sweep_claims > 0)
                .values(
                    sweep_claimed_at=None,
                    sweep_claims=Payment.sweep_claims - 1,
                    updated_at=Payment.updated_at,
                )
            )
            session.commit()

    def _still_processing(
        self, payment_id: int, also: tuple[ColumnElement[bool], ...], values: dict[str, Any]
    ) -> bool:
        """One guarded UPDATE of a payment still `processing` and not credited (so a credit that
        commits first always wins); True if it changed the row."""
        with self._sessions() as session:
            done = session.execute(
                update(Payment)
                .where(
                    Payment.id == payment_id,
                    Payment.state == PaymentState.PROCESSING,
                    Payment.credited.is_(False),
                    *also,
                )
                .values(values)
                .returning(Payment.id)
            ).first()
            session.commit()
        return done is not None


def _claim_id(provider: str, reference: str) -> str:
    return deterministic_event_id(provider, SWEEP_EVENT_TYPE, reference)


Publish = Callable[[Sequence[WebhookEnvelope]], None]


@dataclass
class Sweeper:
    ledger: SweepLedger
    verifier: ProviderVerifier
    publish: Publish  # durable (acknowledged by Kafka) when it returns; raises otherwise
    older_than: float
    expire_after: float
    batch_size: int = 500
    prune: Callable[[], int] | None = None  # housekeeping after each pass; the rows deleted
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # what "now" is for a pass

    def sweep_once(self) -> Counter[str]:
        """One pass; the count of each outcome."""
        counts: Counter[str] = Counter()
        claims: dict[int, WebhookEnvelope] = {}  # by payment id
        now = self.clock()
        for payment in self.ledger.stale(self.older_than, self.batch_size):
            outcome, claim = self._one(payment, now)
            counts[outcome.value] += 1
            SWEPT.labels(outcome.value).inc()
            if claim is not None:
                claims[payment.id] = claim
        if claims:
            self._publish(claims)
        log.info("sweep.pass", **dict(sorted(counts.items())))
        if self.prune is not None:
            pruned = self.prune()
            PRUNED.inc(pruned)
            if pruned:
                log.info("sweep.consumed_records_pruned", count=pruned)
        return counts

    def _publish(self, claims: dict[int, WebhookEnvelope]) -> None:
        """Kafka refused them: their claims are released, so the next pass claims them again
        instead of waiting out a back-off for claims nobody will ever read."""
        try:
            self.publish(list(claims.values()))
        except Exception:
            self.ledger.release(list(claims))
            log.warning("sweep.claims_released", count=len(claims))
            raise

    def _one(
        self, payment: StalePayment, now: datetime
    ) -> tuple[SweepOutcome, WebhookEnvelope | None]:
        fields = {"reference": payment.reference, "provider": payment.provider}
        try:
            confirmation: Confirmation | None = self.verifier.confirm(
                payment.provider, payment.reference, transaction_id=payment.provider_txn_id
            )
        except ProviderUnreachable as exc:
            log.warning("sweep.provider_unreachable", error=str(exc), **fields)
            confirmation = None
        outcome = decide(payment, confirmation, now=now, expire_after=self.expire_after)
        if outcome is SweepOutcome.CLAIMED and confirmation is not None:
            if not self.ledger.claim(payment.id):
                log.info("sweep.claim_backing_off", **fields)
                return SweepOutcome.BACKING_OFF, None
            log.info("sweep.claimed", **fields)
            return outcome, sweep_envelope(payment.provider, _claim(payment, confirmation, now))
        if outcome is SweepOutcome.FAILED and confirmation is not None:
            reason = f"sweep: {payment.provider} says {confirmation.status}"
            reason += f" ({confirmation.provider_status})" if confirmation.provider_status else ""
            if self.ledger.mark_failed(payment.id, reason):
                log.info("sweep.failed", reason=reason, **fields)
        return outcome, None

    def run(self, stop: threading.Event, period: float) -> None:
        """Pass after pass until `stop` is set; a pass that fails is logged and retried."""
        while not stop.is_set():
            try:
                self.sweep_once()
                PASSES.labels("ok").inc()
            except Exception as exc:  # noqa: BLE001 - a loop that must outlive one bad pass
                PASSES.labels("failed").inc()
                log.error("sweep.pass_failed", error_class=type(exc).__name__, error=str(exc))
            stop.wait(period)


def _claim(payment: StalePayment, confirmation: Confirmation, now: datetime) -> SweepClaim:
    """What the provider confirmed (the consumer compares it with the payment again)."""
    return SweepClaim(
        reference=payment.reference,
        amount=confirmation.amount if confirmation.amount is not None else 0,
        currency=confirmation.currency or payment.currency,
        transaction_id=confirmation.transaction_id,
        swept_at=now,
    )


def kafka_publisher(
    settings: KafkaClientSettings, topic: str
) -> tuple[Publish, Callable[[], None]]:
    """Publish claims with an idempotent producer and wait for every delivery report."""

    producer = new_producer(
        settings, "sweep", {"enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )

    def publish(claims: Sequence[WebhookEnvelope]) -> None:
        errors: list[str] = []

        def report(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                errors.append(error.str())

        for claim in claims:
            producer.produce(
                topic, key=claim.reference.encode(), value=claim.to_bytes(), on_delivery=report
            )
        left = producer.flush(30)
        if errors or left:
            raise RuntimeError(
                f"Kafka did not take {len(errors) + left} sweep claim(s): {errors[:1]}"
            )

    def flush() -> None:
        producer.flush(10)

    return publish, flush


def build_sweeper(settings: SweepSettings, engine: Engine) -> tuple[Sweeper, Callable[[], None]]:
    """The composition root of `payhooks sweep`: SQL ledger, HTTP verifier, Kafka publisher."""

    verifier = HttpProviderVerifier(settings)
    publish, flush = kafka_publisher(settings, main_topic(settings.topic_prefix))
    sessions = make_session_factory(engine)
    retention = timedelta(seconds=settings.consumed_records_retention)
    sweeper = Sweeper(
        SqlSweepLedger(
            sessions,
            claim_backoff=settings.sweep_claim_backoff,
            claim_backoff_max=settings.sweep_claim_backoff_max,
        ),
        verifier,
        publish,
        older_than=settings.sweep_older_than,
        expire_after=settings.sweep_expire_after,
        batch_size=settings.sweep_batch_size,
        prune=(lambda: prune_consumed_records(sessions, retention)) if retention else None,
    )

    def close() -> None:
        flush()
        verifier.close()

    return sweeper, close
