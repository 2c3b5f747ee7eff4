"""Dead letters as ops sees them: decode a DLQ record, filter, decide a replay, render. No I/O.

A DLQ record is the original envelope bytes (or unreadable bytes, for poison records) plus the
`payhooks.*` headers the consumer wrote (`schemas/headers.py`). Nothing here trusts the envelope's
normalized fields for money: a replay re-verifies the stored raw body's signature first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kernel.settings import parse_duration
from operations.errors import BadSelection
from schemas import headers as h
from schemas.envelope import SECRET_HEADERS, WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES
from schemas.reverify import NotReverifiable, reverified_event

Position = tuple[int, int]
"""(partition, offset) of a record in the DLQ topic."""

_POSITION = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$")
_SIGNATURE_PREVIEW = 8


def parse_position(text: str) -> Position:
    """`"1:42"` → (1, 42)."""
    match = _POSITION.match(text)
    if match is None:
        raise BadSelection(
            f"{text!r} is not a partition:offset like 0:17 (see `payhooks dlq list`)"
        )
    return int(match.group(1)), int(match.group(2))


def format_position(position: Position) -> str:
    return f"{position[0]}:{position[1]}"


def parse_moment(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (naive means UTC) or a time ago like `30m`, `2h`, `3d`."""
    days = _DAYS.match(text)
    if days is not None:
        return now - timedelta(days=float(days.group(1)))
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadSelection(
            f"{text!r} is neither an ISO time (2026-11-27T10:00:00Z) nor an age (30m, 2h, 3d)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ record, decoded as far as it can be."""

    partition: int
    offset: int
    dead_lettered_at: datetime
    key: str | None
    value: bytes
    headers: dict[str, str]
    envelope: WebhookEnvelope | None
    decode_error: str | None = None

    @property
    def position(self) -> Position:
        return self.partition, self.offset

    @property
    def reference(self) -> str | None:
        return self.envelope.reference if self.envelope else self.key

    @property
    def provider(self) -> str | None:
        return self.envelope.provider if self.envelope else None

    @property
    def event_type(self) -> str | None:
        return self.envelope.event_type if self.envelope else None

    @property
    def event_id(self) -> str | None:
        return self.envelope.event_id if self.envelope else None

    @property
    def error_class(self) -> str:
        return self.headers.get(h.ERROR_CLASS, "")

    @property
    def error_message(self) -> str:
        return self.headers.get(h.ERROR_MESSAGE, "")

    @property
    def attempts(self) -> int | None:
        return h.epoch_ms(self.headers.get(h.ATTEMPT))  # a bounded digit string


def decode_record(
    partition: int,
    offset: int,
    timestamp_ms: int,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, str | bytes | None]],
) -> DeadLetter:
    """A DLQ record's parts → DeadLetter; an unreadable value is kept, with why it is unreadable."""
    envelope: WebhookEnvelope | None = None
    decode_error: str | None = None
    try:
        envelope = WebhookEnvelope.from_bytes(value)
    except ContractError as exc:
        decode_error = str(exc)
    return DeadLetter(
        partition=partition,
        offset=offset,
        dead_lettered_at=datetime.fromtimestamp(timestamp_ms / 1000, UTC),
        key=key.decode(errors="replace") if key is not None else None,
        value=value or b"",
        headers=h.decode_headers(headers),
        envelope=envelope,
        decode_error=decode_error,
    )


@dataclass(frozen=True, slots=True)
class Filters:
    """Which dead letters an operator means; empty fields match everything."""

    reference: str | None = None
    provider: str | None = None
    error: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in self.as_dict().values())

    def as_dict(self) -> dict[str, str | None]:
        return {
            "reference": self.reference,
            "provider": self.provider,
            "error": self.error,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def matches(self, letter: DeadLetter) -> bool:
        checks = (
            self.reference is None or letter.reference == self.reference,
            self.provider is None or letter.provider == self.provider,
            self.error is None or self._error_matches(letter),
            self.since is None or letter.dead_lettered_at >= self.since,
            self.until is None or letter.dead_lettered_at <= self.until,
        )
        return all(checks)

    def _error_matches(self, letter: DeadLetter) -> bool:
        needle = (self.error or "").casefold()
        return needle in letter.error_class.casefold() or needle in letter.error_message.casefold()


# --- replay decisions --------------------------------------------------------------------------


class Verdict(StrEnum):
    REPLAY = "replay"
    ALREADY_REPLAYED = "already-replayed"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ReplayDecision:
    letter: DeadLetter
    verdict: Verdict
    reason: str = ""


SecretsFor = Callable[[str], Sequence[bytes]]


def verification_problem(letter: DeadLetter, secrets_for: SecretsFor) -> str | None:
    """Why this record must not be replayed, or None when its stored body verifies and parses."""
    envelope = letter.envelope
    if envelope is None:
        return f"unreadable record ({letter.decode_error}); fix the producer, it cannot be replayed"
    if envelope.provider not in SCHEMES:
        return f"unknown provider {envelope.provider!r}"
    secrets = secrets_for(envelope.provider)
    if not secrets:
        return f"no {envelope.provider} secret is configured here, so the body cannot be verified"
    try:
        # hash-only schemes: nothing to re-verify; the consumer confirms them with the provider.
        reverified_event(envelope, secrets, hash_only_ok=True)
    except NotReverifiable as exc:
        return str(exc)
    return None


def plan_replay(
    letters: Iterable[DeadLetter],
    already_replayed: set[Position],
    secrets_for: SecretsFor,
) -> list[ReplayDecision]:
    """Each selected record's fate: replay it, skip it (replayed before), or refuse it (why)."""
    decisions = []
    for letter in letters:
        if letter.position in already_replayed:
            decisions.append(ReplayDecision(letter, Verdict.ALREADY_REPLAYED))
            continue
        problem = verification_problem(letter, secrets_for)
        if problem is None:
            decisions.append(ReplayDecision(letter, Verdict.REPLAY))
        else:
            decisions.append(ReplayDecision(letter, Verdict.REFUSED, problem))
    return decisions


def replay_headers(letter: DeadLetter, now_ms: int) -> list[tuple[str, str]]:
    """Headers of the record a replay puts on retry topic 1 (built in `schemas.headers`)."""
    return h.replay_headers(
        letter.headers,
        dead_lettered_at_ms=int(letter.dead_lettered_at.timestamp() * 1000),
        replayed_from=format_position(letter.position),
        now_ms=now_ms,
    )


@dataclass(slots=True)
class ReplaySummary:
    replayed: int = 0
    already_replayed: int = 0
    refused: int = 0
    refusals: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "replayed": self.replayed,
            "already_replayed": self.already_replayed,
            "refused": self.refused,
        }


# --- rendering ---------------------------------------------------------------------------------


def format_age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _amount(letter: DeadLetter) -> str:
    envelope = letter.envelope
    if envelope is None or envelope.amount is None:
        return "-"
    return f"{envelope.amount} {envelope.currency or ''}".strip()


def _error(letter: DeadLetter, width: int | None) -> str:
    text = ": ".join(part for part in (letter.error_class, letter.error_message) if part) or "-"
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text


def list_row(letter: DeadLetter, now: datetime) -> dict[str, Any]:
    """One dead letter as `dlq list --json` prints it."""
    envelope = letter.envelope
    return {
        "position": format_position(letter.position),
        "partition": letter.partition,
        "offset": letter.offset,
        "dead_lettered_at": letter.dead_lettered_at.isoformat(),
        "age_seconds": int((now - letter.dead_lettered_at).total_seconds()),
        "provider": letter.provider,
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "reference": letter.reference,
        "amount": envelope.amount if envelope else None,
        "currency": envelope.currency if envelope else None,
        "attempts": letter.attempts,
        "error_class": letter.error_class,
        "error_message": letter.error_message,
        "readable": envelope is not None,
    }


_COLUMNS = ("OFFSET", "AGE", "PROVIDER", "EVENT", "REFERENCE", "AMOUNT", "ATTEMPTS", "ERROR")


def render_table(letters: Sequence[DeadLetter], now: datetime, *, error_width: int = 70) -> str:
    """The `dlq list` table: aligned columns, newest last, error text cut to `error_width`."""
    rows = [
        (
            format_position(letter.position),
            format_age(now - letter.dead_lettered_at),
            letter.provider or "?",
            letter.event_type or "?",
            letter.reference or "?",
            _amount(letter),
            str(letter.attempts) if letter.attempts is not None else "-",
            _error(letter, error_width),
        )
        for letter in letters
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [_COLUMNS, *rows]
    ]
    lines.append(f"{len(rows)} dead letter(s)")
    return "\n".join(lines)


def _preview(name: str, value: str) -> str:
    # Signatures are not secrets, but they stay out of terminals and logs all the same; a
    # shared secret sent as a header (verif-hash) is never shown, not even in part.
    if name.lower() in SECRET_HEADERS:
        return "(withheld: a shared secret)"
    if "signature" in name.lower():
        return f"{value[:_SIGNATURE_PREVIEW]}… ({len(value)} chars)"
    return value


def decoded_body(letter: DeadLetter) -> Any:
    """The raw webhook body as JSON when it is JSON, else as text."""
    if letter.envelope is None:
        return letter.value.decode(errors="replace")
    try:
        raw = letter.envelope.body_bytes
    except ValueError:
        return letter.envelope.raw_body
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def detail(letter: DeadLetter, now: datetime) -> dict[str, Any]:
    """Everything about one dead letter, as `dlq show --json` prints it."""
    envelope = letter.envelope
    fields = None
    if envelope is not None:
        fields = envelope.model_dump(mode="json", exclude={"raw_body"})
        fields["signature_headers"] = {
            name: _preview(name, value) for name, value in envelope.signature_headers.items()
        }
    return {
        **list_row(letter, now),
        "key": letter.key,
        "headers": letter.headers,
        "envelope": fields,
        "decode_error": letter.decode_error,
        "raw_body": decoded_body(letter),
    }


def render_detail(letter: DeadLetter, now: datetime) -> str:
    """`dlq show`: the error first (what an on-call reads), then headers, envelope and body."""
    info = detail(letter, now)
    lines = [
        f"dead letter {info['position']}  (dead-lettered {info['dead_lettered_at']}, "
        f"{format_age(now - letter.dead_lettered_at)} ago)",
        f"error:      {_error(letter, None)}",
        f"reference:  {letter.reference or '?'}    event: {letter.event_type or '?'}"
        f"    provider: {letter.provider or '?'}    amount: {_amount(letter)}",
        "",
        "headers:",
        *(f"  {name}: {value}" for name, value in sorted(letter.headers.items())),
        "",
    ]
    if info["envelope"] is None:
        lines.append(f"envelope:   UNREADABLE ({letter.decode_error})")
    else:
        lines += ["envelope:", *_indent(_pretty(info["envelope"]))]
    lines += ["", "raw body (decoded):", *_indent(_pretty(info["raw_body"]))]
    return "\n".join(lines)


def _pretty(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


def _indent(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]


def render_plan(decisions: Sequence[ReplayDecision], *, dry_run: bool) -> list[str]:
    """One line per selected record: what (would) happen to it and why."""
    lines = []
    for decision in decisions:
        letter = decision.letter
        what = {
            Verdict.REPLAY: "would replay" if dry_run else "replayed",
            Verdict.ALREADY_REPLAYED: "skip (already replayed)",
            Verdict.REFUSED: f"REFUSE: {decision.reason}",
        }[decision.verdict]
        lines.append(f"{format_position(letter.position):<10} {letter.reference or '?':<24} {what}")
    return lines
