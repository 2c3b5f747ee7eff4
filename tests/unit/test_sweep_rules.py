"""The sweep's decision and one pass over in-memory fakes of its ports (ledger, verifier, Kafka)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from operations.sweep import SWEPT, StalePayment, Sweeper, SweepOutcome, decide
from schemas.envelope import WebhookEnvelope
from schemas.providers.confirm import Confirmation, ConfirmedStatus
from schemas.sweep import SWEEP_EVENT_TYPE, read_claim
from tests.helpers import ScriptedVerifier

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86_400.0


def stale(reference: str = "r1", age: timedelta = timedelta(hours=1)) -> StalePayment:
    return StalePayment(1, reference, "paystack", 5000, "NGN", NOW - age, None)


def answer(status: ConfirmedStatus, amount: int = 5000) -> Confirmation:
    return Confirmation("paystack", "r1", status, amount, "NGN", "42", status.value)


@pytest.mark.parametrize(
    ("confirmation", "age", "expected"),
    [
        (answer(ConfirmedStatus.SUCCEEDED), timedelta(hours=1), SweepOutcome.CLAIMED),
        (answer(ConfirmedStatus.FAILED), timedelta(hours=1), SweepOutcome.FAILED),
        (answer(ConfirmedStatus.NOT_FOUND), timedelta(hours=1), SweepOutcome.FAILED),
        (answer(ConfirmedStatus.PENDING), timedelta(hours=1), SweepOutcome.WAITING),
        (answer(ConfirmedStatus.PENDING), timedelta(days=2), SweepOutcome.FAILED),
        (None, timedelta(days=2), SweepOutcome.UNREACHABLE),
    ],
    ids=["paid", "failed", "unknown", "pending", "expired", "provider-down"],
)
def test_what_a_pass_does_with_a_stale_payment(
    confirmation: Confirmation | None, age: timedelta, expected: SweepOutcome
) -> None:
    assert decide(stale(age=age), confirmation, now=NOW, expire_after=DAY) is expected


@dataclass
class FakeLedger:
    payments: list[StalePayment]
    failed: list[tuple[int, str]] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    claims_due: bool = True
    released: list[int] = field(default_factory=list)

    def stale(self, older_than: float, limit: int) -> list[StalePayment]:
        return self.payments[:limit]

    def mark_failed(self, payment_id: int, reason: str) -> bool:
        self.failed.append((payment_id, reason))
        return True

    def claim(self, payment_id: int) -> bool:
        self.claimed.append(payment_id)
        return self.claims_due

    def release(self, payment_ids: Sequence[int]) -> None:
        self.released.extend(payment_ids)


def test_one_pass_claims_the_paid_fails_the_dead_and_leaves_the_rest() -> None:
    ledger = FakeLedger(
        [stale("paid"), stale("dead"), stale("later"), stale("down", timedelta(days=9))]
    )
    verifier = ScriptedVerifier(
        {
            "paid": answer(ConfirmedStatus.SUCCEEDED),
            "dead": answer(ConfirmedStatus.FAILED),
            "later": answer(ConfirmedStatus.PENDING),
            "down": None,
        }
    )
    published: list[WebhookEnvelope] = []

    def publish(claims: Sequence[WebhookEnvelope]) -> None:
        published.extend(claims)

    claimed_before = SWEPT.labels("claimed")._value.get()
    counts = Sweeper(
        ledger, verifier, publish, older_than=0, expire_after=DAY, clock=lambda: NOW
    ).sweep_once()
    assert counts == {"claimed": 1, "failed": 1, "waiting": 1, "unreachable": 1}
    assert [e.reference for e in published] == ["paid"]
    assert published[0].event_type == SWEEP_EVENT_TYPE
    assert (read_claim(published[0]).amount, read_claim(published[0]).currency) == (5000, "NGN")
    assert [reason for _, reason in ledger.failed] == ["sweep: paystack says failed (failed)"]
    assert SWEPT.labels("claimed")._value.get() == claimed_before + 1


def test_every_sweep_of_a_payment_publishes_the_same_event_id() -> None:
    ledger = FakeLedger([stale("paid")])
    verifier = ScriptedVerifier({"paid": answer(ConfirmedStatus.SUCCEEDED)})
    published: list[WebhookEnvelope] = []
    for _ in range(2):
        Sweeper(
            ledger, verifier, published.extend, older_than=0, expire_after=DAY, clock=lambda: NOW
        ).sweep_once()
    assert len({e.event_id for e in published}) == 1


def test_a_paid_payment_claimed_within_its_back_off_is_not_published() -> None:
    # Given a paid payment whose claim a concurrent sweep has just recorded
    ledger = FakeLedger([stale("paid")], claims_due=False)
    verifier = ScriptedVerifier({"paid": answer(ConfirmedStatus.SUCCEEDED)})
    published: list[WebhookEnvelope] = []
    # When a pass finds it paid
    counts = Sweeper(
        ledger, verifier, published.extend, older_than=0, expire_after=DAY, clock=lambda: NOW
    ).sweep_once()
    # Then it asked to claim it, was refused, and published nothing
    assert counts == {"backing_off": 1}
    assert ledger.claimed == [1]
    assert published == []
