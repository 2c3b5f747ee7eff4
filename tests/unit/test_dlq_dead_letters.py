"""Dead letters as ops sees them (pure): positions, times, filters, replay decisions, headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operations.dlq.dead_letters import (
    DeadLetter,
    Filters,
    Verdict,
    decode_record,
    format_age,
    parse_moment,
    parse_position,
    plan_replay,
    render_table,
    replay_headers,
)
from operations.errors import BadSelection
from schemas import headers as hdr
from tests.helpers import dlq_headers, webhook_envelope

SECRET = "sk_unit"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def letter(reference: str = "ref-1", offset: int = 0, **headers: object) -> DeadLetter:
    envelope = webhook_envelope(reference, SECRET)
    return decode_record(
        0,
        offset,
        int((NOW - timedelta(hours=2)).timestamp() * 1000),
        key=reference.encode(),
        value=envelope.to_bytes(),
        headers=dlq_headers(**headers),  # type: ignore[arg-type]
    )


def secrets(provider: str) -> tuple[bytes, ...]:
    return (SECRET.encode(),) if provider == "paystack" else ()


def test_positions_and_moments_parse_or_explain() -> None:
    assert parse_position(" 2:17 ") == (2, 17)
    with pytest.raises(BadSelection, match="partition:offset"):
        parse_position("17")
    assert parse_moment("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_moment("3d", NOW) == NOW - timedelta(days=3)
    assert parse_moment("2026-11-27T10:00:00", NOW) == datetime(2026, 11, 27, 10, tzinfo=UTC)
    with pytest.raises(BadSelection, match="neither an ISO time"):
        parse_moment("yesterday", NOW)


def test_filters_match_reference_provider_error_and_window() -> None:
    dead = letter(error_class="CreditMismatch", error_message="amount differs")

    assert Filters().matches(dead)
    assert Filters(reference="ref-1", provider="paystack").matches(dead)
    assert not Filters(reference="ref-2").matches(dead)
    assert Filters(error="AMOUNT").matches(dead)
    assert Filters(error="mismatch").matches(dead)
    assert not Filters(error="timeout").matches(dead)
    assert Filters(since=NOW - timedelta(hours=3), until=NOW).matches(dead)
    assert not Filters(since=NOW - timedelta(hours=1)).matches(dead)


def test_unreadable_record_is_kept_and_refused() -> None:
    poison = decode_record(0, 5, 0, key=None, value=b"\xff", headers=[])

    (decision,) = plan_replay([poison], set(), secrets)

    assert poison.envelope is None
    assert decision.verdict is Verdict.REFUSED
    assert "unreadable record" in decision.reason


def test_tampered_body_or_missing_secret_is_refused() -> None:
    genuine = letter()
    assert genuine.envelope is not None
    forged_body = base64.b64encode(genuine.envelope.body_bytes.replace(b"500000", b"1")).decode()
    forged = DeadLetter(
        partition=0,
        offset=1,
        dead_lettered_at=genuine.dead_lettered_at,
        key=genuine.key,
        value=genuine.value,
        headers=genuine.headers,
        envelope=genuine.envelope.model_copy(update={"raw_body": forged_body}),
    )

    decisions = plan_replay([genuine, forged], set(), secrets)
    no_secret = plan_replay([genuine], set(), lambda _: ())

    assert [d.verdict for d in decisions] == [Verdict.REPLAY, Verdict.REFUSED]
    assert "fails re-verification" in decisions[1].reason
    assert "no paystack secret is configured" in no_secret[0].reason


@given(st.sets(st.integers(min_value=0, max_value=20), max_size=20))
def test_replaying_anything_twice_replays_nothing_the_second_time(offsets: set[int]) -> None:
    letters = [letter(f"ref-{n}", n) for n in sorted(offsets)]

    first = plan_replay(letters, set(), secrets)
    replayed = {d.letter.position for d in first if d.verdict is Verdict.REPLAY}
    second = plan_replay(letters, replayed, secrets)

    assert replayed == {(0, n) for n in offsets}
    assert all(d.verdict is Verdict.ALREADY_REPLAYED for d in second)


def test_replay_headers_make_the_record_due_now_on_retry_one_and_keep_lineage() -> None:
    headers = dict(replay_headers(letter(offset=4), now_ms=1_800_000_000_000))

    assert headers[hdr.ATTEMPT] == "1"
    assert headers[hdr.NOT_BEFORE] == "1800000000000"
    assert headers[hdr.FIRST_FAILED_AT] == "1700000000000"
    assert headers[hdr.REPLAYED_FROM_DLQ_OFFSET] == "0:4"
    assert headers[hdr.ORIGINAL_OFFSET] == "7"
    assert hdr.ERROR_CLASS not in headers


def test_table_shows_one_row_per_dead_letter() -> None:
    table = render_table([letter(), letter("ref-2", 1)], NOW)

    lines = table.splitlines()
    assert lines[0].split() == [
        "OFFSET",
        "AGE",
        "PROVIDER",
        "EVENT",
        "REFERENCE",
        "AMOUNT",
        "ATTEMPTS",
        "ERROR",
    ]
    assert lines[1].split()[:7] == [
        "0:0",
        "2h",
        "paystack",
        "charge.success",
        "ref-1",
        "500000",
        "NGN",
    ]
    assert lines[-1] == "2 dead letter(s)"
    assert format_age(timedelta(seconds=59)) == "59s"
    assert format_age(timedelta(days=3, hours=5)) == "3d"
