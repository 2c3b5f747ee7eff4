"""The fast tier for GET /payments/{reference} and GET /wallets/{user_id}: what is not found and
what is shown, on the in-memory read model of tests/fakes.py. The same routes run on PostgreSQL
in tests/integration/test_payments_api.py and tests/adversarial."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments_api.service_layer.ports import PaymentSnapshot
from payments_api.service_layer.queries import payment_view, wallet_view
from tests.fakes import FakeReadModel

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _payment(reference: str = "ref-1", completed_at: datetime | None = None) -> PaymentSnapshot:
    return PaymentSnapshot(
        reference=reference,
        state="completed" if completed_at else "processing",
        credited=completed_at is not None,
        refunded_amount=0,
        user_id="ada",
        amount=500_000,
        currency="NGN",
        provider="paystack",
        created_at=CREATED,
        completed_at=completed_at,
    )


def test_a_payment_is_shown_with_its_times_in_iso_8601() -> None:
    done = CREATED + timedelta(minutes=3)
    reads = FakeReadModel(payments={"ref-1": _payment(completed_at=done)})

    view = payment_view(reads, "ref-1")

    assert view == {
        "reference": "ref-1",
        "state": "completed",
        "credited": True,
        "refunded_amount": 0,
        "user_id": "ada",
        "amount": 500_000,
        "currency": "NGN",
        "provider": "paystack",
        "created_at": "2026-01-01T12:00:00+00:00",
        "completed_at": "2026-01-01T12:03:00+00:00",
    }


def test_a_payment_not_completed_yet_has_no_completion_time() -> None:
    reads = FakeReadModel(payments={"ref-1": _payment()})

    view = payment_view(reads, "ref-1")

    assert view is not None
    assert view["completed_at"] is None
    assert view["credited"] is False


def test_an_unknown_reference_is_not_found() -> None:
    reads = FakeReadModel(payments={"ref-1": _payment()})

    assert payment_view(reads, "ref-2") is None
    assert reads.calls == [("payment", "ref-2")]


@pytest.mark.parametrize(
    "reference", ["", "a" * 101, "ref 1", "ref/1", "réf", "ref\x00", "ref-1\n"]
)
def test_what_no_reference_can_be_is_not_found_without_asking_the_store(reference: str) -> None:
    reads = FakeReadModel(payments={reference: _payment(reference)})

    assert payment_view(reads, reference) is None
    assert reads.calls == []


def test_a_wallet_shows_the_balance_per_currency_in_currency_order() -> None:
    reads = FakeReadModel(users={"ada": {"USD": 1_000, "NGN": 500_000}})

    view = wallet_view(reads, "ada")

    assert view == {"user_id": "ada", "balances": {"NGN": 500_000, "USD": 1_000}}
    assert view is not None
    assert list(view["balances"]) == ["NGN", "USD"]


def test_an_unknown_user_is_not_found() -> None:
    reads = FakeReadModel(users={"ada": {"NGN": 0}})

    assert wallet_view(reads, "grace") is None
    assert reads.calls == [("balances", "grace")]


@pytest.mark.parametrize("user_id", ["", "u" * 65, "ada\n", "ada\x00", "\x7f"])
def test_what_no_user_id_can_be_is_not_found_without_asking_the_store(user_id: str) -> None:
    reads = FakeReadModel(users={user_id: {"NGN": 0}})

    assert wallet_view(reads, user_id) is None
    assert reads.calls == []
