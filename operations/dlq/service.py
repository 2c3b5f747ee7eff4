"""The dead-letter use cases: list, show, replay. Each logs one audit line (who, what, how many).

Replay order of events, and why: take the replay lock → read which records were already replayed
→ re-verify each selected record's stored signature → publish a chunk to retry topic 1 and wait
for Kafka's acks → mark the acknowledged ones replayed. A crash between the ack and the mark
replays those records again next time; the consumer's idempotent credit absorbs that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from operations.dlq.dead_letters import (
    DeadLetter,
    Filters,
    Position,
    ReplayDecision,
    ReplaySummary,
    SecretsFor,
    Verdict,
    format_position,
    plan_replay,
    replay_headers,
)
from operations.dlq.kafka_dlq import DlqReader, OutgoingRecord, RetryPublisher
from operations.dlq.replay_ledger import LedgerEntry, ReplayLedger
from operations.errors import BadSelection, PublishFailed

audit = structlog.get_logger("payhooks.ops.audit")
Progress = Callable[[str], None]
CHUNK = 100


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters: explicit positions, or filters, or everything (`--all`)."""

    positions: tuple[Position, ...] = ()
    filters: Filters = field(default_factory=Filters)
    everything: bool = False

    def check(self) -> None:
        if self.positions and (self.everything or not self.filters.is_empty()):
            raise BadSelection("give partition:offset positions, or filters/--all, not both")
        if self.everything and not self.filters.is_empty():
            raise BadSelection("--all means every dead letter: drop the filters or drop --all")
        if not (self.positions or self.everything or not self.filters.is_empty()):
            raise BadSelection(
                "say which dead letters: partition:offset positions, filters "
                "(--reference, --provider, --error, --since, --until) or --all"
            )

    def describe(self) -> dict[str, object]:
        return {
            "positions": [format_position(p) for p in self.positions],
            "all": self.everything,
            **{k: v for k, v in self.filters.as_dict().items() if v is not None},
        }


def list_dead_letters(reader: DlqReader, filters: Filters, actor: str) -> list[DeadLetter]:
    letters = [letter for letter in reader.read_all() if filters.matches(letter)]
    audit.info(
        "dlq.listed",
        actor=actor,
        action="list",
        topic=reader.topic,
        filters={k: v for k, v in filters.as_dict().items() if v is not None},
        count=len(letters),
    )
    return letters


def show_dead_letter(reader: DlqReader, position: Position, actor: str) -> DeadLetter:
    letter = reader.read_one(position)
    audit.info(
        "dlq.shown",
        actor=actor,
        action="show",
        topic=reader.topic,
        partition=letter.partition,
        offset=letter.offset,
        reference=letter.reference,
        event_id=letter.event_id,
    )
    return letter


def select_letters(reader: DlqReader, selection: Selection) -> list[DeadLetter]:
    selection.check()
    if selection.positions:
        return [reader.read_one(p) for p in dict.fromkeys(selection.positions)]
    return [letter for letter in reader.read_all() if selection.filters.matches(letter)]


@dataclass(frozen=True, slots=True)
class ReplayPorts:
    reader: DlqReader
    ledger: ReplayLedger
    publisher: RetryPublisher
    secrets_for: SecretsFor


def replay_dead_letters(
    ports: ReplayPorts,
    selection: Selection,
    *,
    actor: str,
    dry_run: bool,
    progress: Progress,
) -> tuple[list[ReplayDecision], ReplaySummary]:
    """Plan, and unless `dry_run`, carry out a replay. Returns each record's fate and the counts."""
    letters = select_letters(ports.reader, selection)
    if dry_run:
        decisions = _plan(ports, letters)
        summary = _count(decisions)
    else:
        ports.publisher.check_topic()
        with ports.ledger.exclusive():
            decisions = _plan(ports, letters)
            summary = _execute(ports, decisions, actor, progress)
    audit.info(
        "dlq.replay_dry_run" if dry_run else "dlq.replayed",
        actor=actor,
        action="replay",
        dry_run=dry_run,
        topic=ports.reader.topic,
        retry_topic=ports.publisher.topic,
        selection=selection.describe(),
        selected=len(letters),
        **summary.as_dict(),
    )
    return decisions, summary


def _plan(ports: ReplayPorts, letters: Sequence[DeadLetter]) -> list[ReplayDecision]:
    return plan_replay(letters, ports.ledger.replayed_positions(), ports.secrets_for)


def _count(decisions: Sequence[ReplayDecision]) -> ReplaySummary:
    summary = ReplaySummary()
    for decision in decisions:
        if decision.verdict is Verdict.REPLAY:
            summary.replayed += 1
        elif decision.verdict is Verdict.ALREADY_REPLAYED:
            summary.already_replayed += 1
        else:
            summary.refused += 1
            summary.refusals.append((format_position(decision.letter.position), decision.reason))
    return summary


def _entry(decision: ReplayDecision, outcome: str) -> LedgerEntry:
    letter = decision.letter
    return LedgerEntry(
        letter.position, letter.event_id, letter.reference, outcome, decision.reason or None
    )


def _execute(
    ports: ReplayPorts, decisions: Sequence[ReplayDecision], actor: str, progress: Progress
) -> ReplaySummary:
    planned = _count(decisions)
    summary = ReplaySummary(
        already_replayed=planned.already_replayed,
        refused=planned.refused,
        refusals=planned.refusals,
    )
    refused = [d for d in decisions if d.verdict is Verdict.REFUSED]
    ports.ledger.record([_entry(d, "refused") for d in refused], actor)
    to_replay = [d for d in decisions if d.verdict is Verdict.REPLAY]
    for start in range(0, len(to_replay), CHUNK):
        chunk = to_replay[start : start + CHUNK]
        summary.replayed += _replay_chunk(ports, chunk, actor)
        progress(f"replayed {summary.replayed}/{len(to_replay)}")
    return summary


def _replay_chunk(ports: ReplayPorts, chunk: Sequence[ReplayDecision], actor: str) -> int:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    records = [
        OutgoingRecord(
            key=d.letter.key.encode() if d.letter.key is not None else None,
            value=d.letter.value,
            headers=replay_headers(d.letter, now_ms),
        )
        for d in chunk
    ]
    acked = ports.publisher.publish(records)
    done = [d for d, ok in zip(chunk, acked, strict=True) if ok]
    ports.ledger.record([_entry(d, "replayed") for d in done], actor)
    for decision in done:
        audit.info(
            "dlq.record_replayed",
            actor=actor,
            partition=decision.letter.partition,
            offset=decision.letter.offset,
            reference=decision.letter.reference,
            event_id=decision.letter.event_id,
            topic=ports.publisher.topic,
        )
    if len(done) < len(chunk):
        raise PublishFailed(
            f"Kafka acknowledged {len(done)} of {len(chunk)} replayed records; the rest were not "
            "marked and will be replayed by running the same command again"
        )
    return len(done)
