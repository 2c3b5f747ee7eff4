"""Kafka record headers on retry and DLQ records (values are UTF-8 strings): their names, and the
one place they are built (a consumer's hand-off, an ops replay) and read back."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

ATTEMPT = "payhooks.attempt"
NOT_BEFORE = "payhooks.not-before"
FIRST_FAILED_AT = "payhooks.first-failed-at"
ORIGINAL_TOPIC = "payhooks.original-topic"
ORIGINAL_PARTITION = "payhooks.original-partition"
ORIGINAL_OFFSET = "payhooks.original-offset"
ORIGINAL_TIMESTAMP = "payhooks.original-timestamp"
GROUP = "payhooks.group"
ERROR_CLASS = "payhooks.error-class"
ERROR_MESSAGE = "payhooks.error-message"
REPLAYED_FROM_DLQ_OFFSET = "payhooks.replayed-from-dlq-offset"

ALL = (
    ATTEMPT,
    NOT_BEFORE,
    FIRST_FAILED_AT,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    GROUP,
    ERROR_CLASS,
    ERROR_MESSAGE,
)


# Survive every hop: where the record first came from, and when it first failed.
LINEAGE = (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET, ORIGINAL_TIMESTAMP, GROUP)


def handoff_headers(
    seen: Mapping[str, str],
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    group: str,
    attempts_made: int,
    not_before_ms: int,
    now_ms: int,
    error: BaseException,
) -> tuple[tuple[str, bytes], ...]:
    """The headers of a record handed to a retry topic or the DLQ. `seen` are the headers of the
    record being handed off (topic/partition/offset/timestamp its place): original-* and
    first-failed-at survive every hop."""
    values = {
        ATTEMPT: str(attempts_made),
        NOT_BEFORE: str(not_before_ms),
        FIRST_FAILED_AT: seen.get(FIRST_FAILED_AT) or str(now_ms),
        ORIGINAL_TOPIC: seen.get(ORIGINAL_TOPIC) or topic,
        ORIGINAL_PARTITION: seen.get(ORIGINAL_PARTITION) or str(partition),
        ORIGINAL_OFFSET: seen.get(ORIGINAL_OFFSET) or str(offset),
        ORIGINAL_TIMESTAMP: seen.get(ORIGINAL_TIMESTAMP) or str(timestamp_ms),
        GROUP: group,
        ERROR_CLASS: type(error).__name__,
        ERROR_MESSAGE: str(error)[:1000],
    }
    # "replace": a message quoting a record's lone surrogate must not fail the hand-off.
    return tuple((name, value.encode("utf-8", "replace")) for name, value in values.items())


def replay_headers(
    seen: Mapping[str, str], *, dead_lettered_at_ms: int, replayed_from: str, now_ms: int
) -> list[tuple[str, str]]:
    """The headers of a dead letter replayed onto retry topic 1: due now, lineage kept."""
    headers = [
        (ATTEMPT, "1"),
        (NOT_BEFORE, str(now_ms)),
        (FIRST_FAILED_AT, seen.get(FIRST_FAILED_AT) or str(dead_lettered_at_ms)),
        (REPLAYED_FROM_DLQ_OFFSET, replayed_from),
    ]
    return headers + [(name, seen[name]) for name in LINEAGE if name in seen]


# Reading headers back. Every byte of a consumed record is untrusted: read leniently, bounded,
# never raising (consumer/domain/records.py, operations/dlq).
_EPOCH_MS = re.compile(r"[0-9]{1,15}")  # ASCII digits; 15 digits of ms is year 33658
MAX_HEADER_CHARS = 1000


def decode_headers(pairs: Iterable[tuple[object, object]]) -> dict[str, str]:
    """A consumed record's headers as text: invalid UTF-8 becomes U+FFFD, long values are cut,
    the last value of a repeated name wins. Never raises."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[_text(name)[:MAX_HEADER_CHARS]] = _text(value)[:MAX_HEADER_CHARS]
    return headers


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def epoch_ms(text: str | None) -> int | None:
    """An epoch-ms header value, or None when it is not one (non-ASCII digits, 5,000 digits…)."""
    return int(text) if text is not None and _EPOCH_MS.fullmatch(text) else None
