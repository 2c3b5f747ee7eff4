"""The verdict of a chaos run, from what the sender saw, the ledger and the committed topics.

- Every payment whose genuine webhook was sent ends credited, or dead-lettered with a reason;
  so does every payment whose webhook was lost (the sweep must find it).
- Every refund webhook answered 2xx has its one ledger row (however many copies were sent), or
  its payment is dead-lettered; no payment has more reversal rows than refunds sent.
- A genuine webhook refused with anything but 503, or never answered 2xx despite the sender's
  provider-like retries, is a violation (a provider would have given up on it).
- No reference has two ledger rows; `payhooks reconcile` passes.
- Credits flow again within `recovery_limit` seconds of a fault's end (a wedged consumer fails it).
- Every record the gateways published has exactly one outcome the consumer recorded
  (`consumed_records`: applied, duplicate, ignored, rejected…) or went to the DLQ; the applied
  ones are the credited payments, and there are no fewer records than 2xx answers. Duplicates
  absorbed are counted from those recorded outcomes, not inferred.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, TopicPartition
from sqlalchemy import Engine, func, select

from kernel.db.tables import ConsumedRecord, LedgerReversal, LedgerTransaction, Payment
from kernel.kafka_client import new_consumer
from kernel.settings import KafkaClientSettings, Settings
from operations.reconcile import reconcile
from payhooks_devtools.chaos.load import LoadStats
from schemas.headers import ERROR_MESSAGE, ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC
from schemas.names import dlq_topic

Where = tuple[str, int, int]  # topic, partition, offset


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    headers: dict[str, str]
    where: Where = ("", -1, -1)

    @property
    def origin(self) -> Where:
        """The main-topic record this one descends from (its own place if it is one)."""
        try:
            return (
                self.headers[ORIGINAL_TOPIC],
                int(self.headers[ORIGINAL_PARTITION]),
                int(self.headers[ORIGINAL_OFFSET]),
            )
        except (KeyError, ValueError):
            return self.where


def committed_records(kafka: KafkaClientSettings, topics: Iterable[str]) -> list[Record]:
    """Every committed record in `topics` (read_committed, from the beginning)."""
    consumer = new_consumer(kafka, "chaos", {
        "group.id": f"chaos-audit-{uuid.uuid4().hex}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    try:
        partitions = [
            TopicPartition(topic, partition, 0)
            for topic in topics
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        consumer.assign(partitions)
        return _drain(consumer, len(partitions))
    finally:
        consumer.close()


def _drain(consumer: Consumer, partitions: int) -> list[Record]:
    records: list[Record] = []
    finished = 0
    deadline = time.monotonic() + 60
    while finished < partitions and time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=0.5):
            error = message.error()
            if error is not None:
                finished += error.code() == KafkaError._PARTITION_EOF
                continue
            raw = message.headers() or []
            pairs = raw.items() if isinstance(raw, dict) else raw
            headers = {str(name): _text(value) for name, value in pairs}
            where = (message.topic() or "", message.partition() or 0, message.offset() or 0)
            records.append(Record((message.key() or b"").decode(errors="replace"), headers, where))
    return records


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


def dead_letters(settings: Settings) -> dict[str, str]:
    """Dead-lettered references → the reason their record carries ("" if none)."""
    records = committed_records(settings, [dlq_topic(settings.topic_prefix)])
    return {record.key: record.headers.get(ERROR_MESSAGE, "") for record in records}


def credited_references(engine: Engine, references: set[str]) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Payment.reference).where(Payment.credited, Payment.reference.in_(references))
        )
        return {row.reference for row in rows}


def first_credit_after(engine: Engine, since_epoch: float) -> float | None:
    """Epoch seconds of the first ledger row written at or after `since_epoch`, if any."""
    since = datetime.fromtimestamp(since_epoch, tz=UTC)
    with engine.connect() as connection:
        first = connection.execute(
            select(func.min(LedgerTransaction.created_at)).where(
                LedgerTransaction.created_at >= since
            )
        ).scalar_one_or_none()
    return None if first is None else first.timestamp()


def sender_violations(load: LoadStats) -> list[str]:
    """What a provider would have seen go wrong: refusals and webhooks never accepted."""
    refused = [
        f"refused: {ref}: a genuine webhook answered {status}"
        for ref, status in sorted(load.refused.items())
    ]
    unanswered = [
        f"never accepted: {ref}: no 2xx after the sender's retries"
        for ref in sorted(load.unanswered)
    ]
    return refused + unanswered


def outcome_violations(sent: set[str], credited: set[str], dead: dict[str, str]) -> list[str]:
    """Every sent payment ends credited, or dead-lettered with a reason."""
    lost = [
        f"lost: {ref} sent, neither credited nor dead-lettered"
        for ref in sorted(sent - credited - dead.keys())
    ]
    reasonless = [
        f"dead-lettered without a reason: {ref}"
        for ref, reason in sorted(dead.items())
        if ref in sent - credited and not reason.strip()
    ]
    return lost + reasonless


def reversal_counts(engine: Engine, references: set[str]) -> dict[str, int]:
    """Reversal rows per payment reference."""
    if not references:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(Payment.reference, func.count(LedgerReversal.id))
            .join(LedgerReversal, LedgerReversal.payment_id == Payment.id)
            .where(Payment.reference.in_(references))
            .group_by(Payment.reference)
        ).all()
    return {reference: int(count) for reference, count in rows}


def reversal_violations(
    engine: Engine, accepted: set[tuple[str, str]], dead: dict[str, str]
) -> list[str]:
    """Each accepted refund id applied once; a payment short of rows must be dead-lettered
    (its refund, or its success, sits in the DLQ with a reason); never more rows than refunds."""
    expected = refunds_by_reference(accepted)
    applied = reversal_counts(engine, set(expected))
    short = [
        f"refund lost: {ref}: {len(expected[ref])} refund(s) accepted, {applied.get(ref, 0)} "
        "applied, nothing dead-lettered"
        for ref in sorted(refunds_awaited(expected, applied, dead))
    ]
    extra = [
        f"refund applied twice: {ref}: {applied.get(ref, 0)} rows for {len(ids)} refund(s)"
        for ref, ids in sorted(expected.items())
        if applied.get(ref, 0) > len(ids)
    ]
    return short + extra


def refunds_by_reference(accepted: set[tuple[str, str]]) -> dict[str, set[str]]:
    """The accepted (reference, refund id) pairs → each payment's refund ids."""
    expected: dict[str, set[str]] = {}
    for reference, refund_id in accepted:
        expected.setdefault(reference, set()).add(refund_id)
    return expected


def refunds_awaited(
    expected: dict[str, set[str]], applied: dict[str, int], dead: dict[str, str]
) -> set[str]:
    """Payments short of reversal rows whose refund (or success) is not dead-lettered either:
    what the drain still waits for, and at the verdict the refunds lost."""
    return {
        ref
        for ref, ids in expected.items()
        if applied.get(ref, 0) < len(ids) and not _dead_letter_of(ref, ids, dead)
    }


def _dead_letter_of(reference: str, refund_ids: set[str], dead: dict[str, str]) -> bool:
    """A refund is keyed by its payment's reference, or (Stripe: no reference of ours in it) by
    its event id."""
    keys = {reference, *(f"event:evt_{refund_id}" for refund_id in refund_ids)}
    return any(dead.get(key, "").strip() for key in keys)


def ledger_violations(engine: Engine, settings: Settings) -> list[str]:
    with engine.connect() as connection:
        doubled = connection.execute(
            select(LedgerTransaction.reference)
            .group_by(LedgerTransaction.reference)
            .having(func.count() > 1)
        ).all()
    found = [f"double credit: {row.reference}" for row in doubled]
    ledger = reconcile(engine, stuck_after_seconds=settings.stuck_processing_seconds)
    return found + [
        f"reconcile {v.kind}: {v.subject}={v.value}: {v.detail}" for v in ledger.violations
    ]


def recovery_violations(recovery: float | None, limit: float) -> list[str]:
    if recovery is None or recovery <= limit:
        return []
    return [
        f"wedged: credits resumed only {recovery:.1f} s after the fault ended (limit {limit:.0f} s)"
    ]


def recorded_outcomes(engine: Engine) -> dict[Where, str]:
    """What the consumer recorded for each published record it settled in PostgreSQL."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                ConsumedRecord.source_topic,
                ConsumedRecord.source_partition,
                ConsumedRecord.source_offset,
                ConsumedRecord.outcome,
            )
        ).all()
    return {(row[0], row[1], row[2]): row[3] for row in rows}


def unsettled(
    published: list[Record], outcomes: dict[Where, str], dlq: list[Record]
) -> list[Record]:
    """Published records with neither a recorded outcome nor a dead letter."""
    dead = {record.origin for record in dlq}
    return [r for r in published if r.where not in outcomes and r.where not in dead]


def count_violations(
    published: list[Record],
    outcomes: dict[Where, str],
    dlq: list[Record],
    *,
    accepted: int,
    credited: int,
) -> list[str]:
    """Recorded outcomes must add up with what was sent and what was credited."""
    found = [
        f"unsettled: {r.where[0]}[{r.where[1]}]@{r.where[2]} ({r.key}): no recorded outcome, "
        "not dead-lettered"
        for r in unsettled(published, outcomes, dlq)
    ]
    applied = Counter(outcomes.values())["applied"]
    if applied != credited:
        found.append(f"miscount: {applied} applied outcomes recorded, {credited} payments credited")
    if len(published) < accepted:
        found.append(f"miscount: {accepted} webhooks answered 2xx, only {len(published)} published")
    return found
