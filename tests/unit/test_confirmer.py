"""The confirmation rule with an in-memory verifier: which events are asked about, and how each
answer is classified (never a credit without an agreeing "succeeded")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumer.domain.errors import (
    ConfirmationMismatch,
    ConfirmationUnavailable,
    NotConfirmedYet,
)
from consumer.domain.failures import FailureKind, classify
from consumer.service_layer.confirm import Confirmer
from consumer.service_layer.credit import CreditItem
from kernel.provider_verify import ProviderUnreachable
from schemas.envelope import WebhookEnvelope
from schemas.providers import ProviderEvent
from schemas.providers.confirm import Confirmation, ConfirmedStatus


class FakeVerifier:
    """Answers from a table; records every question."""

    def __init__(self, answer: Confirmation | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str | None]] = []

    def confirm(
        self, provider: str, reference: str, *, transaction_id: str | None = None
    ) -> Confirmation:
        self.asked.append((provider, reference, transaction_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def close(self) -> None:
        pass


def _item(
    provider: str = "flutterwave", *, hash_only: bool = True, success: bool = True
) -> CreditItem:
    event = ProviderEvent(
        event_id="e1",
        event_type="charge.completed",
        reference="ref-1",
        amount=500_000,
        currency="NGN",
        provider_status="successful",
        occurred_at=None,
        is_successful_payment=success,
        transaction_id="77",
    )
    envelope = WebhookEnvelope(
        event_id="e1",
        provider=provider,
        event_type="charge.completed",
        reference="ref-1",
        received_at=datetime.now(UTC),
        raw_body="",
    )
    return CreditItem(envelope, event, hash_only=hash_only)


PAID = Confirmation("flutterwave", "ref-1", ConfirmedStatus.SUCCEEDED, 500_000, "NGN", "77")


def test_agreeing_confirmation_lets_the_credit_through() -> None:
    verifier = FakeVerifier(PAID)
    confirmer = Confirmer(verifier, frozenset())
    assert confirmer.needed(_item())
    assert confirmer.problem(_item()) is None
    assert verifier.asked == [("flutterwave", "ref-1", "77")]


def test_only_hash_only_or_listed_providers_successes_are_asked_about() -> None:
    confirmer = Confirmer(FakeVerifier(PAID), frozenset({"paystack"}))
    assert not confirmer.needed(_item("stripe", hash_only=False))
    assert confirmer.needed(_item("paystack", hash_only=False))
    assert not confirmer.needed(_item(success=False))


@pytest.mark.parametrize(
    ("answer", "error", "kind"),
    [
        (ProviderUnreachable("down"), ConfirmationUnavailable, FailureKind.TRANSIENT),
        (
            Confirmation("flutterwave", "", ConfirmedStatus.NOT_FOUND),
            NotConfirmedYet,
            FailureKind.TRANSIENT,
        ),
        (
            Confirmation("flutterwave", "ref-1", ConfirmedStatus.PENDING, 500_000, "NGN"),
            NotConfirmedYet,
            FailureKind.TRANSIENT,
        ),
        (
            Confirmation("flutterwave", "ref-1", ConfirmedStatus.SUCCEEDED, 1, "NGN"),
            ConfirmationMismatch,
            FailureKind.PERMANENT,
        ),
        (
            Confirmation("flutterwave", "ref-1", ConfirmedStatus.FAILED, 500_000, "NGN"),
            ConfirmationMismatch,
            FailureKind.PERMANENT,
        ),
    ],
    ids=["api-down", "not-found", "pending", "amount-differs", "failed"],
)
def test_every_other_answer_is_an_error_never_a_credit(
    answer: Confirmation | Exception, error: type[Exception], kind: FailureKind
) -> None:
    problem = Confirmer(FakeVerifier(answer), frozenset()).problem(_item())
    assert isinstance(problem, error)
    assert classify(problem) is kind


def test_once_an_api_is_down_the_rest_of_the_batch_is_not_asked_again() -> None:
    verifier = FakeVerifier(ProviderUnreachable("down"))
    confirmer = Confirmer(verifier, frozenset(), parallel=1)
    problems = confirmer.problems([_item(), _item(), _item("stripe", hash_only=False)])
    assert [type(p) for p in problems] == [
        ConfirmationUnavailable,
        ConfirmationUnavailable,
        type(None),
    ]
    assert len(verifier.asked) == 1
