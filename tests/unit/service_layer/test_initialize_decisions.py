"""The fast tier for the api's initialize flow: its decisions on in-memory fakes of its ports
(tests/fakes.py). The same paths run on real servers in tests/integration/test_payments_api.py
and tests/adversarial/test_initialize_unknown.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from payments_api.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    ReferenceTaken,
)
from payments_api.domain.payments import InitializePayment, fingerprint
from payments_api.service_layer.initialize import (
    Initializer,
    KeyPolicy,
    StoredResponse,
    initialize_payment,
)
from payments_api.service_layer.ports import ScopedKey
from tests.fakes import FakeInitializeStore, FakeProvider

T = TypeVar("T")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = ScopedKey("merchant", "key-1")


async def _inline(func: Callable[[], T]) -> T:
    return func()


def command(**changes: object) -> InitializePayment:
    body: dict[str, object] = {
        "user_id": "user-1",
        "amount": 500_000,
        "currency": "NGN",
        "provider": "paystack",
        "email": "payer@example.com",
        "reference": "ref-1",
    }
    return InitializePayment.model_validate(body | changes)


def run(
    store: FakeInitializeStore,
    provider: FakeProvider,
    request: InitializePayment,
    key: ScopedKey = KEY,
    now: datetime = NOW,
) -> StoredResponse:
    use = Initializer(
        store=store,
        provider=provider,
        in_thread=_inline,
        clock=lambda: now,
        policy=KeyPolicy(ttl=timedelta(hours=24), lock_timeout=timedelta(seconds=30)),
    )
    return asyncio.run(initialize_payment(use, key, request, fingerprint(request)))


def test_first_request_creates_the_payment_processing_and_stores_the_answer() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    answer = run(store, provider, command())
    assert answer.status == 201
    assert not answer.replayed
    assert answer.body["state"] == "processing"
    assert answer.body["authorization_url"] == "https://checkout.example/ref-1"
    assert provider.calls == [("ref-1", "key-1")]
    assert store.payments[1].state == "processing"
    assert store.keys[KEY].response_status == 201
    assert store.keys[KEY].locked_at is None
    assert store.commits == 2


def test_same_key_same_body_replays_without_calling_the_provider_again() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    first = run(store, provider, command())
    again = run(store, provider, command())
    assert again == StoredResponse(first.status, first.body, replayed=True)
    assert len(provider.calls) == 1
    assert len(store.payments) == 1


def test_same_key_different_body_is_refused_as_reused() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    run(store, provider, command())
    with pytest.raises(IdempotencyKeyReused):
        run(store, provider, command(amount=600_000))
    assert len(provider.calls) == 1
    assert len(store.payments) == 1


def test_a_key_still_in_flight_is_a_conflict() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    with store.transaction() as tx:  # claimed by a request that has not finished yet
        tx.claim_key(KEY, fingerprint(command()), NOW)
    with pytest.raises(IdempotencyKeyInFlight):
        run(store, provider, command(), now=NOW + timedelta(seconds=1))
    assert provider.calls == []
    assert store.payments == {}


@pytest.mark.parametrize("refusal", [ProviderRefused("no"), ProviderUnavailable("down")])
def test_a_definite_refusal_fails_the_payment(refusal: ProviderError) -> None:
    store = FakeInitializeStore()
    answer = run(store, FakeProvider(error=refusal), command())
    assert answer.status == 502
    assert answer.body["error"]["code"] == "provider_error"
    assert store.payments[1].state == "failed"
    assert store.keys[KEY].response_status == 502


def test_an_unknown_provider_outcome_leaves_the_payment_processing() -> None:
    store = FakeInitializeStore()
    answer = run(store, FakeProvider(error=ProviderOutcomeUnknown("timeout")), command())
    assert answer.status == 502
    assert answer.body["error"]["code"] == "provider_outcome_unknown"
    assert "is processing" in answer.body["error"]["message"]
    assert store.payments[1].state == "processing"


def test_a_taken_reference_is_refused_and_leaves_no_key_behind() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    run(store, provider, command())
    other = ScopedKey("merchant", "key-2")
    with pytest.raises(ReferenceTaken):
        run(store, provider, command(user_id="user-2"), key=other)
    assert other not in store.keys  # the transaction rolled back
    assert len(store.payments) == 1
    assert len(provider.calls) == 1


def test_an_expired_key_starts_afresh_and_the_old_payment_lets_go_of_it() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    run(store, provider, command())
    answer = run(store, provider, command(reference="ref-2"), now=NOW + timedelta(hours=25))
    assert answer.status == 201
    assert not answer.replayed
    assert answer.body["reference"] == "ref-2"
    assert len(store.payments) == 2
    assert store.holders[KEY] == 2
    assert "release_key" in store.calls


def test_an_abandoned_key_takes_over_its_payment_instead_of_creating_another() -> None:
    store, provider = FakeInitializeStore(), FakeProvider()
    with store.transaction() as tx:  # a request that died between its two transactions
        tx.claim_key(KEY, fingerprint(command()), NOW)
        tx.add_payment(KEY, command(), "ref-1")
    answer = run(store, provider, command(), now=NOW + timedelta(seconds=31))
    assert answer.status == 201
    assert len(store.payments) == 1
    assert provider.calls == [("ref-1", "key-1")]
    assert "relock_key" in store.calls
