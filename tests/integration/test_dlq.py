"""`payhooks dlq` on the real Kafka and PostgreSQL: list, show, replay (with its ledger)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TopicPartition
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import DlqReplay
from kernel.kafka_client import new_consumer
from kernel.settings import KafkaClientSettings, Settings
from operations.dlq.bootstrap import dlq_reader, replay_ports
from operations.dlq.dead_letters import DeadLetter, Filters, Verdict
from operations.dlq.kafka_dlq import DlqReader
from operations.dlq.service import (
    ReplayPorts,
    Selection,
    list_dead_letters,
    replay_dead_letters,
    show_dead_letter,
)
from operations.errors import KafkaUnavailable, ReplayBusy, UnknownOffset
from schemas import headers as hdr
from schemas.names import dlq_topic, retry_topic
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import dlq_record, produce_in_transaction, webhook_envelope

pytestmark = pytest.mark.integration
ACTOR = "tester/0"


def given_dead_letters(settings: Settings) -> None:
    """Three committed dead letters on partition 0 (one poison); an aborted one on partition 1."""
    ada = webhook_envelope("ref-ada", PAYSTACK_SECRET, amount=1_000)
    bob = webhook_envelope("ref-bob", PAYSTACK_SECRET, amount=2_000)
    produce_in_transaction(
        settings.kafka_bootstrap,
        dlq_topic(settings.topic_prefix),
        [
            dlq_record(ada),
            dlq_record(bob, error_class="CreditMismatch", error_message="amount differs"),
            (b"ref-junk", b"\x00not json", dlq_record(ada, error_class="PoisonMessage")[2]),
        ],
    )
    produce_in_transaction(
        settings.kafka_bootstrap,
        dlq_topic(settings.topic_prefix),
        [dlq_record(webhook_envelope("ref-aborted", PAYSTACK_SECRET))],
        partition=1,
        commit=False,
    )


def ports(settings: Settings, engine: Engine) -> ReplayPorts:
    return replay_ports(settings, engine)


def retry_records(settings: Settings) -> list[DeadLetter]:
    return list(DlqReader(settings, retry_topic(settings.topic_prefix, 1)).read_all())


def test_list_reads_committed_dead_letters_and_decodes_them(
    settings: Settings, topics: tuple[str, ...]
) -> None:
    given_dead_letters(settings)

    letters = list_dead_letters(dlq_reader(settings), Filters(), ACTOR)

    assert [letter.reference for letter in letters] == ["ref-ada", "ref-bob", "ref-junk"]
    ada, bob, junk = letters
    assert (ada.provider, ada.event_type, ada.envelope and ada.envelope.amount) == (
        "paystack",
        "charge.success",
        1_000,
    )
    assert (ada.attempts, ada.error_class) == (5, "PaymentNotFound")
    assert bob.error_message == "amount differs"
    assert junk.envelope is None
    assert junk.decode_error


def test_list_filters_by_reference_provider_error_and_time(
    settings: Settings, topics: tuple[str, ...]
) -> None:
    given_dead_letters(settings)
    reader = dlq_reader(settings)
    later = datetime.now(UTC) + timedelta(minutes=5)

    def refs(filters: Filters) -> list[str | None]:
        return [letter.reference for letter in list_dead_letters(reader, filters, ACTOR)]

    assert refs(Filters(reference="ref-bob")) == ["ref-bob"]
    assert refs(Filters(provider="paystack")) == ["ref-ada", "ref-bob"]
    assert refs(Filters(error="MISMATCH")) == ["ref-bob"]
    assert refs(Filters(error="poison")) == ["ref-junk"]
    assert refs(Filters(since=later)) == []
    assert refs(Filters(until=later)) == ["ref-ada", "ref-bob", "ref-junk"]


def test_listing_commits_no_consumer_offsets(settings: Settings, topics: tuple[str, ...]) -> None:
    given_dead_letters(settings)

    list_dead_letters(dlq_reader(settings), Filters(), ACTOR)

    probe = new_consumer(settings, "test", {"group.id": "payhooks-ops-dlq-reader"})
    try:
        committed = probe.committed([TopicPartition(dlq_topic(settings.topic_prefix), 0)], 10)
    finally:
        probe.close()
    assert committed[0].offset < 0  # OFFSET_INVALID: nothing was ever committed


def test_show_returns_one_record_and_names_unknown_offsets(
    settings: Settings, topics: tuple[str, ...]
) -> None:
    given_dead_letters(settings)
    reader = dlq_reader(settings)

    letter = show_dead_letter(reader, (0, 1), ACTOR)

    assert letter.reference == "ref-bob"
    assert letter.headers[hdr.ORIGINAL_OFFSET] == "7"
    with pytest.raises(UnknownOffset, match=r"holds offsets 0\.\.3"):
        show_dead_letter(reader, (0, 99), ACTOR)
    with pytest.raises(UnknownOffset, match="transaction marker"):
        show_dead_letter(reader, (0, 3), ACTOR)
    with pytest.raises(UnknownOffset, match="no partition 7"):
        show_dead_letter(reader, (7, 0), ACTOR)


def test_unreachable_kafka_is_one_actionable_error(settings: Settings) -> None:
    nowhere = KafkaClientSettings.plaintext("127.0.0.1:1")
    reader = DlqReader(nowhere, dlq_topic(settings.topic_prefix), timeout=1)
    with pytest.raises(KafkaUnavailable, match="did not answer"):
        list_dead_letters(reader, Filters(), ACTOR)


def test_replay_publishes_to_retry_one_marks_the_ledger_and_refuses_tampering(
    settings: Settings, topics: tuple[str, ...], engine: Engine
) -> None:
    good = webhook_envelope("ref-good", PAYSTACK_SECRET)
    tampered_body = base64.b64decode(good.raw_body).replace(b"500000", b"900000")
    tampered = good.model_copy(update={"raw_body": base64.b64encode(tampered_body).decode()})
    produce_in_transaction(
        settings.kafka_bootstrap,
        dlq_topic(settings.topic_prefix),
        [dlq_record(good), dlq_record(tampered)],
    )

    decisions, summary = replay_dead_letters(
        ports(settings, engine),
        Selection(everything=True),
        actor=ACTOR,
        dry_run=False,
        progress=lambda _: None,
    )

    assert [d.verdict for d in decisions] == [Verdict.REPLAY, Verdict.REFUSED]
    assert "fails re-verification" in decisions[1].reason
    assert summary.as_dict() == {"replayed": 1, "already_replayed": 0, "refused": 1}
    (replayed,) = retry_records(settings)
    assert replayed.value == good.to_bytes()
    assert replayed.key == "ref-good"
    assert replayed.headers[hdr.ATTEMPT] == "1"
    assert replayed.headers[hdr.REPLAYED_FROM_DLQ_OFFSET] == "0:0"
    assert replayed.headers[hdr.FIRST_FAILED_AT] == "1700000000000"
    assert int(replayed.headers[hdr.NOT_BEFORE]) > 1_700_000_000_000
    with Session(engine) as session:
        rows = session.scalars(select(DlqReplay).order_by(DlqReplay.dlq_offset)).all()
        assert [(r.dlq_offset, r.outcome, r.reference, r.actor) for r in rows] == [
            (0, "replayed", "ref-good", ACTOR),
            (1, "refused", "ref-good", ACTOR),
        ]


def test_replaying_twice_does_nothing_the_second_time(
    settings: Settings, topics: tuple[str, ...], engine: Engine
) -> None:
    produce_in_transaction(
        settings.kafka_bootstrap,
        dlq_topic(settings.topic_prefix),
        [dlq_record(webhook_envelope(f"ref-{n}", PAYSTACK_SECRET)) for n in range(3)],
    )
    selection = Selection(filters=Filters(provider="paystack"))

    def replay() -> dict[str, int]:
        _, summary = replay_dead_letters(
            ports(settings, engine),
            selection,
            actor=ACTOR,
            dry_run=False,
            progress=lambda _: None,
        )
        return summary.as_dict()

    assert replay() == {"replayed": 3, "already_replayed": 0, "refused": 0}
    assert replay() == {"replayed": 0, "already_replayed": 3, "refused": 0}
    assert len(retry_records(settings)) == 3


def test_dry_run_changes_nothing(
    settings: Settings,
    topics: tuple[str, ...],
    engine: Engine,
    session_factory: sessionmaker[Session],
) -> None:
    given_dead_letters(settings)

    decisions, summary = replay_dead_letters(
        ports(settings, engine),
        Selection(positions=((0, 0), (0, 2))),
        actor=ACTOR,
        dry_run=True,
        progress=lambda _: None,
    )

    assert [d.verdict for d in decisions] == [Verdict.REPLAY, Verdict.REFUSED]
    assert summary.as_dict() == {"replayed": 1, "already_replayed": 0, "refused": 1}
    assert retry_records(settings) == []
    with session_factory() as session:
        assert session.scalars(select(DlqReplay)).all() == []


def test_a_replay_already_running_blocks_another(
    settings: Settings, topics: tuple[str, ...], engine: Engine
) -> None:
    given_dead_letters(settings)
    replay_ports_ = ports(settings, engine)

    with replay_ports_.ledger.exclusive(), pytest.raises(ReplayBusy):
        replay_dead_letters(
            replay_ports_,
            Selection(everything=True),
            actor=ACTOR,
            dry_run=False,
            progress=lambda _: None,
        )
    assert retry_records(settings) == []


# --- the real command line ---------------------------------------------------------------------


def payhooks(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_list_show_replay(
    settings: Settings, topics: tuple[str, ...], env_for: dict[str, str]
) -> None:
    given_dead_letters(settings)

    listed = payhooks(["dlq", "list", "--json"], env_for)
    table = payhooks(["dlq", "list", "--error", "mismatch"], env_for)
    shown = payhooks(["dlq", "show", "0:1"], env_for)
    dry = payhooks(["dlq", "replay", "--reference", "ref-ada", "--dry-run"], env_for)
    real = payhooks(["dlq", "replay", "0:0"], env_for)
    again = payhooks(["dlq", "replay", "0:0", "--json"], env_for)

    assert listed.returncode == 0, listed.stderr
    assert [row["position"] for row in json.loads(listed.stdout)] == ["0:0", "0:1", "0:2"]
    assert "ref-bob" in table.stdout
    assert "ref-ada" not in table.stdout
    assert "1 dead letter(s)" in table.stdout
    assert shown.returncode == 0
    assert '"reference": "ref-bob"' in shown.stdout
    assert "CreditMismatch: amount differs" in shown.stdout
    assert "dry run: would replay 1, skipped 0 already replayed, refused 0" in dry.stdout
    assert real.returncode == 0, real.stderr
    assert "replayed 1, skipped 0 already replayed, refused 0" in real.stdout
    assert "replayed 1/1" in real.stderr  # progress goes to stderr
    assert '"dlq.replayed"' in real.stderr  # the audit line
    assert json.loads(again.stdout)["summary"] == {
        "replayed": 0,
        "already_replayed": 1,
        "refused": 0,
    }


def test_cli_errors_are_one_line_with_a_non_zero_exit(
    settings: Settings, topics: tuple[str, ...], env_for: dict[str, str]
) -> None:
    given_dead_letters(settings)

    unknown = payhooks(["dlq", "show", "0:999"], env_for)
    no_kafka = payhooks(["dlq", "list", "--kafka-bootstrap", "127.0.0.1:1"], env_for)
    bad_position = payhooks(["dlq", "show", "zero"], env_for)
    no_selection = payhooks(["dlq", "replay"], env_for)
    refused = payhooks(["dlq", "replay", "0:2"], env_for)

    for result in (unknown, no_kafka, bad_position, no_selection):
        assert result.returncode == 2
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1, result.stderr
    assert "no dead letter at 0:999" in unknown.stderr
    assert "did not answer" in no_kafka.stderr
    assert "partition:offset" in bad_position.stderr
    assert "--all" in no_selection.stderr
    assert refused.returncode == 1
    assert "REFUSE: unreadable record" in refused.stdout
