"""A consumed Kafka record as plain data, the hand-off headers it carries, and the due-time gate.

Pure: the Kafka adapter turns client messages into `Delivery` values and back. Every byte of a
record is untrusted (anyone with write access to a topic can put anything there): header values
are read leniently and bounded here, so nothing in a record can raise out of the gate or make
the consumer loop exit; what cannot be read is dead-lettered as poison by the batch handler.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from schemas import headers as h
from schemas.headers import epoch_ms

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Delivery(NamedTuple):
    """One consumed record (a named tuple: one per record, built in C)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str] = NO_HEADERS

    @property
    def not_before_ms(self) -> int:
        """When a retry record becomes due; 0 (always due) without a readable header. The gate
        clamps it and ignores it outside retry topics (`DuePolicy`)."""
        return epoch_ms(self.headers.get(h.NOT_BEFORE)) or 0


@dataclass(frozen=True, slots=True)
class HandOff:
    """A record to publish to a retry topic or the DLQ (original key and value kept); partition
    None: the producer's partitioner chooses (by key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    partition: int | None = None


def one_partition_per_topic(
    handoffs: Sequence[HandOff], partitions: Callable[[str], int | None]
) -> list[HandOff]:
    """A batch's hand-offs to a topic all go to ONE of its `partitions(topic)` partitions (None:
    unknown, the partitioner chooses each): every partition a Kafka transaction writes to costs
    its commit ~1.5 ms on the local broker (registering it, acks=all, its commit marker), so ten
    hand-offs spread by key over ten partitions cost ~15 ms. Which one comes from the batch's
    first hand-off to it (its bytes' CRC-32), so batches spread over the partitions. Nothing
    relies on a reference's records sharing a retry partition: a later event may overtake one
    waiting in a retry topic anyway (docs/consumer.md, "Per-reference order")."""
    chosen: dict[str, int | None] = {}
    placed = []
    for handoff in handoffs:
        if handoff.topic not in chosen:
            count = partitions(handoff.topic)
            digest = zlib.crc32(handoff.value or handoff.key or b"")
            chosen[handoff.topic] = digest % count if count else None
        placed.append(dataclasses.replace(handoff, partition=chosen[handoff.topic]))
    return placed


def handoff_headers(
    delivery: Delivery,
    *,
    group: str,
    attempts_made: int,
    not_before_ms: int,
    now_ms: int,
    error: BaseException,
) -> tuple[tuple[str, bytes], ...]:
    """The contract's headers for handing `delivery` off (built in `schemas.headers`)."""
    return h.handoff_headers(
        delivery.headers,
        topic=delivery.topic,
        partition=delivery.partition,
        offset=delivery.offset,
        timestamp_ms=delivery.timestamp_ms,
        group=group,
        attempts_made=attempts_made,
        not_before_ms=not_before_ms,
        now_ms=now_ms,
        error=error,
    )


@dataclass(frozen=True, slots=True)
class Gate:
    """A batch split by due time: what may run now, and the first not-yet-due record of each
    partition (where the consumer pauses and seeks back to)."""

    ready: tuple[Delivery, ...]
    held: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class DuePolicy:
    """Which records may wait, and for how long at most.

    `payhooks.not-before` counts only on retry topics (payhooks writes it there; on the main
    topic it can only come from someone else), and never further ahead than the longest
    configured retry delay: a far-future value cannot park a partition.
    """

    is_retry_topic: Callable[[str], bool] = lambda _topic: True
    longest_delay_ms: int = 0

    def due_ms(self, delivery: Delivery, now_ms: int) -> int:
        if not self.is_retry_topic(delivery.topic):
            return 0
        return min(delivery.not_before_ms, now_ms + self.longest_delay_ms)


def gate(deliveries: Iterable[Delivery], now_ms: int, policy: DuePolicy | None = None) -> Gate:
    """Keep records in partition order: once one record of a partition is not due, it and every
    later record of that partition wait (they are fetched again after the seek). A held record
    carries its clamped due time in its not-before header."""
    policy = policy or DuePolicy(longest_delay_ms=2**62)
    ready: list[Delivery] = []
    held: dict[tuple[str, int], Delivery] = {}
    for delivery in deliveries:
        where = (delivery.topic, delivery.partition)
        if where in held:
            continue
        due = policy.due_ms(delivery, now_ms)
        if due > now_ms:
            headers = {**delivery.headers, h.NOT_BEFORE: str(due)}
            held[where] = delivery._replace(headers=headers)
        else:
            ready.append(delivery)
    return Gate(tuple(ready), tuple(held.values()))


def source_of(delivery: Delivery) -> tuple[str, int, int]:
    """The main-topic record a delivery descends from: the `payhooks.original-*` headers of a
    retry record, else the delivery's own place (also when those headers are unreadable)."""
    headers = delivery.headers
    if h.ORIGINAL_TOPIC not in headers:  # a main-topic record (most): no exception raised
        return (delivery.topic, delivery.partition, delivery.offset)
    try:
        return (
            headers[h.ORIGINAL_TOPIC],
            int(headers[h.ORIGINAL_PARTITION]),
            int(headers[h.ORIGINAL_OFFSET]),
        )
    except (KeyError, ValueError):
        return (delivery.topic, delivery.partition, delivery.offset)


def header_problem(delivery: Delivery, *, on_retry_topic: bool) -> str | None:
    """Why a retry record's payhooks headers cannot be trusted, or None. On a retry topic the
    attempt and not-before headers must be plain numbers; elsewhere they are ignored."""
    if not on_retry_topic:
        return None
    for name in (h.NOT_BEFORE, h.ATTEMPT):
        value = delivery.headers.get(name)
        if value is not None and epoch_ms(value) is None:
            return f"header {name} is not a number ({len(value)} chars)"
    return None


def next_offsets(deliveries: Sequence[Delivery]) -> dict[tuple[str, int], int]:
    """The offset to commit per partition: one past the last settled record."""
    offsets: dict[tuple[str, int], int] = {}
    for delivery in deliveries:
        where = (delivery.topic, delivery.partition)
        offsets[where] = max(offsets.get(where, 0), delivery.offset + 1)
    return offsets
