"""A consumed Kafka record as plain data, the hand-off headers it carries, and the due-time gate.

Pure: the Kafka adapter turns client messages into `Delivery` values and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schemas import headers as h


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_before_ms(self) -> int:
        """When a retry record becomes due; 0 (always due) for records without the header."""
        raw = self.headers.get(h.NOT_BEFORE, "")
        return int(raw) if raw.isdigit() else 0


@dataclass(frozen=True, slots=True)
class HandOff:
    """A record to publish to a retry topic or the DLQ (original key and value kept)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def handoff_headers(
    delivery: Delivery,
    *,
    group: str,
    attempts_made: int,
    not_before_ms: int,
    now_ms: int,
    error: BaseException,
) -> tuple[tuple[str, bytes], ...]:
    """The contract's headers; the original-* and first-failed-at survive every hop."""
    seen = delivery.headers
    values = {
        h.ATTEMPT: str(attempts_made),
        h.NOT_BEFORE: str(not_before_ms),
        h.FIRST_FAILED_AT: seen.get(h.FIRST_FAILED_AT) or str(now_ms),
        h.ORIGINAL_TOPIC: seen.get(h.ORIGINAL_TOPIC) or delivery.topic,
        h.ORIGINAL_PARTITION: seen.get(h.ORIGINAL_PARTITION) or str(delivery.partition),
        h.ORIGINAL_OFFSET: seen.get(h.ORIGINAL_OFFSET) or str(delivery.offset),
        h.ORIGINAL_TIMESTAMP: seen.get(h.ORIGINAL_TIMESTAMP) or str(delivery.timestamp_ms),
        h.GROUP: group,
        h.ERROR_CLASS: type(error).__name__,
        h.ERROR_MESSAGE: str(error)[:1000],
    }
    return tuple((name, value.encode()) for name, value in values.items())


@dataclass(frozen=True, slots=True)
class Gate:
    """A batch split by due time: what may run now, and the first not-yet-due record of each
    partition (where the consumer pauses and seeks back to)."""

    ready: tuple[Delivery, ...]
    held: tuple[Delivery, ...]


def gate(deliveries: Iterable[Delivery], now_ms: int) -> Gate:
    """Keep records in partition order: once one record of a partition is not due, it and every
    later record of that partition wait (they are fetched again after the seek)."""
    ready: list[Delivery] = []
    held: dict[tuple[str, int], Delivery] = {}
    for delivery in deliveries:
        where = (delivery.topic, delivery.partition)
        if where in held:
            continue
        if delivery.not_before_ms > now_ms:
            held[where] = delivery
        else:
            ready.append(delivery)
    return Gate(tuple(ready), tuple(held.values()))


def source_of(delivery: Delivery) -> tuple[str, int, int]:
    """The main-topic record a delivery descends from: the `payhooks.original-*` headers of a
    retry record, else the delivery's own place (also when those headers are unreadable)."""
    headers = delivery.headers
    try:
        return (
            headers[h.ORIGINAL_TOPIC],
            int(headers[h.ORIGINAL_PARTITION]),
            int(headers[h.ORIGINAL_OFFSET]),
        )
    except (KeyError, ValueError):
        return (delivery.topic, delivery.partition, delivery.offset)


def next_offsets(deliveries: Sequence[Delivery]) -> dict[tuple[str, int], int]:
    """The offset to commit per partition: one past the last settled record."""
    offsets: dict[tuple[str, int], int] = {}
    for delivery in deliveries:
        where = (delivery.topic, delivery.partition)
        offsets[where] = max(offsets.get(where, 0), delivery.offset + 1)
    return offsets
