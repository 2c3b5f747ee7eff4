"""The chaos verdict's pure parts: what the sender saw, what became of each payment, how soon
credits resumed."""

from __future__ import annotations

import time

import pytest

from payhooks_devtools.chaos import runner
from payhooks_devtools.chaos.load import LoadStats
from payhooks_devtools.chaos.verdict import (
    Record,
    count_violations,
    outcome_violations,
    recovery_violations,
    refunds_awaited,
    sender_violations,
)
from schemas.headers import ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC


def test_a_refused_or_never_accepted_genuine_webhook_is_a_violation() -> None:
    load = LoadStats(refused={"r1": 401}, unanswered={"r2"})

    found = sender_violations(load)

    assert found == [
        "refused: r1: a genuine webhook answered 401",
        "never accepted: r2: no 2xx after the sender's retries",
    ]


def test_a_clean_load_has_no_sender_violation() -> None:
    assert sender_violations(LoadStats(accepted=2, accepted_references={"r1", "r2"})) == []


def test_every_sent_payment_ends_credited_or_dead_lettered_with_a_reason() -> None:
    sent = {"credited", "dead", "dead-no-reason", "lost"}
    dead = {"dead": "CreditMismatch: amount differs", "dead-no-reason": " "}

    found = outcome_violations(sent, {"credited"}, dead)

    assert found == [
        "lost: lost sent, neither credited nor dead-lettered",
        "dead-lettered without a reason: dead-no-reason",
    ]


def test_credits_resuming_later_than_the_limit_is_a_wedge() -> None:
    assert recovery_violations(None, 60) == []
    assert recovery_violations(3.2, 60) == []
    assert recovery_violations(75.0, 60) == [
        "wedged: credits resumed only 75.0 s after the fault ended (limit 60 s)"
    ]


def test_recorded_outcomes_must_add_up_with_what_was_published_and_credited() -> None:
    published = [
        Record("r1", {}, ("t", 0, 0)),
        Record("r1", {}, ("t", 0, 1)),
        Record("r2", {}, ("t", 1, 0)),
    ]
    outcomes = {("t", 0, 0): "applied", ("t", 0, 1): "duplicate"}
    retried_to_dlq = Record(
        "r2", {ORIGINAL_TOPIC: "t", ORIGINAL_PARTITION: "1", ORIGINAL_OFFSET: "0"}, ("dlq", 0, 0)
    )

    assert count_violations(published, outcomes, [retried_to_dlq], accepted=3, credited=1) == []
    assert count_violations(published, outcomes, [], accepted=3, credited=1) == [
        "unsettled: t[1]@0 (r2): no recorded outcome, not dead-lettered"
    ]
    assert count_violations(published, outcomes, [retried_to_dlq], accepted=4, credited=2) == [
        "miscount: 1 applied outcomes recorded, 2 payments credited",
        "miscount: 4 webhooks answered 2xx, only 3 published",
    ]


def test_a_refund_is_awaited_until_applied_or_dead_lettered_by_reference_or_stripe_event() -> None:
    expected = {"applied": {"a"}, "by-ref": {"b"}, "stripe": {"rf_s"}, "pending": {"p1", "p2"}}
    dead = {"by-ref": "ReversalBeforeCredit: not credited yet", "event:evt_rf_s": "PaymentNotFound"}

    assert refunds_awaited(expected, {"applied": 1, "pending": 1}, dead) == {"pending"}


def test_the_drain_does_not_wait_out_its_deadline_for_a_dead_lettered_stripe_refund(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Stripe refund names no reference of ours: dead-lettered, it is keyed by its event id.
    The drain waited the full drain_seconds for it (chaos rebalance-storm: ~300 s)."""
    monkeypatch.setattr(runner, "reversal_counts", lambda *_: {})
    dead = {"event:evt_rf_pay-1": "PaymentNotFound: no payment has reference 'pi_1'"}
    monkeypatch.setattr(runner, "dead_letters", lambda _: dead)

    def waited(_: float) -> None:
        raise AssertionError("the drain waited for a refund that is dead-lettered")

    monkeypatch.setattr(time, "sleep", waited)

    runner.drain_reversals(None, None, {("pay-1", "rf_pay-1")}, 240.0)  # type: ignore[arg-type]
