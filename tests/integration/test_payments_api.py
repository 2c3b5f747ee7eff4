"""POST /payments with Stripe's idempotency semantics, GET /payments/{ref}, GET /wallets/{user},
on the real PostgreSQL; the providers' APIs are the simulator (in process, over ASGI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from payhooks.db.tables import IdempotencyKey, Payment, Wallet
from payhooks.settings import Settings
from payhooks.simulator.app import build_simulator
from producer_gateway.adapters.provider_api import ProviderApi
from tests.gateway_support import gateway_client, with_providers

pytestmark = pytest.mark.integration
SIMULATOR = "http://simulator"


@dataclass
class ProviderSpy(httpx.AsyncBaseTransport):
    """The simulator over ASGI, recording the payment's state as the provider call begins, and
    able to hold calls (an in-flight request) until released."""

    sessions: sessionmaker[Session]
    inner: httpx.AsyncBaseTransport
    states_seen: list[str | None] = field(default_factory=list)
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.states_seen.append(await asyncio.to_thread(self._state_from_another_connection))
        self.entered.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 30)
        return await self.inner.handle_async_request(request)

    def _state_from_another_connection(self) -> str | None:
        with self.sessions() as session:
            return session.scalars(select(Payment.state)).first()


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return with_providers(
        settings,
        **{
            f"{p}_api_base": f"{SIMULATOR}/{p}"
            for p in ("paystack", "stripe", "flutterwave", "standard")
        },
    )


@pytest.fixture
def spy(api_settings: Settings, session_factory: sessionmaker[Session]) -> ProviderSpy:
    simulator = build_simulator(api_settings, base_url=SIMULATOR)
    return ProviderSpy(session_factory, httpx.ASGITransport(app=simulator))


@pytest.fixture
def client(
    api_settings: Settings, spy: ProviderSpy, topics: tuple[str, ...]
) -> Iterator[httpx.Client]:
    provider_api = ProviderApi(api_settings, httpx.AsyncClient(transport=spy))
    with gateway_client(api_settings, provider_api=provider_api) as client:
        yield client


def _body(**changes: Any) -> dict[str, Any]:
    return {
        "user_id": "ada",
        "amount": 250_000,
        "currency": "NGN",
        "provider": "paystack",
        "email": "ada@example.com",
        "reference": "pay-1",
        **changes,
    }


def _pay(client: httpx.Client, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post("/payments", json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize("provider", ["paystack", "stripe", "flutterwave", "standard"])
def test_a_new_key_creates_a_payment_pending_then_processing(
    client: httpx.Client,
    spy: ProviderSpy,
    session_factory: sessionmaker[Session],
    provider: str,
) -> None:
    # When a payment is initialized with a key never seen
    response = _pay(client, "key-1", _body(provider=provider))

    # Then it was `pending` (committed) while the provider was called, and is `processing` now
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        "reference": "pay-1",
        "state": "processing",
        "authorization_url": f"{SIMULATOR}/{provider}/checkout/pay-1",
        "user_id": "ada",
        "amount": 250_000,
        "currency": "NGN",
        "provider": provider,
    }
    assert spy.states_seen == ["pending"]
    with session_factory() as session:
        payment = session.scalars(select(Payment)).one()
        assert (payment.state, payment.idempotency_key) == ("processing", "key-1")
        assert session.scalars(select(Wallet.balance)).one() == 0  # created on first use


def test_the_same_key_and_body_replays_the_stored_response(
    client: httpx.Client, spy: ProviderSpy, session_factory: sessionmaker[Session]
) -> None:
    first = _pay(client, "key-r", _body())
    again = _pay(client, "key-r", _body())

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(spy.states_seen) == 1  # the provider was called once
    with session_factory() as session:
        assert len(session.scalars(select(Payment)).all()) == 1


def test_a_completed_payment_still_replays_the_first_response(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    # Given the payment was initialized, then completed by its webhook
    first = _pay(client, "key-c", _body())
    with session_factory() as session, session.begin():
        session.execute(update(Payment).values(state="completed"))

    # When the client retries with the same key
    again = _pay(client, "key-c", _body())

    # Then it gets the cached result of initialize, not a second payment
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


def test_the_same_key_with_a_different_body_is_422(client: httpx.Client) -> None:
    _pay(client, "key-d", _body())
    changed = _pay(client, "key-d", _body(amount=1))
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_locked_before_the_request_is_409(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    # Given another request holds the key (locked, no response yet) before this one starts
    first = _pay(client, "key-other", _body(reference="pay-0"))
    assert first.status_code == 201
    with session_factory() as session, session.begin():
        row = session.get(IdempotencyKey, "key-other")
        assert row is not None
        session.add(
            IdempotencyKey(
                key="key-held",
                request_fingerprint=row.request_fingerprint,
                locked_at=datetime.now(UTC),
            )
        )

    response = _pay(client, "key-held", _body(reference="pay-0"))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"


def test_a_second_request_while_the_first_is_in_flight_is_409(
    client: httpx.Client, spy: ProviderSpy
) -> None:
    # Given the first request is waiting on the provider
    spy.hold = threading.Event()
    results: dict[str, httpx.Response] = {}
    first = threading.Thread(target=lambda: results.update(first=_pay(client, "key-f", _body())))
    first.start()
    assert spy.entered.wait(30)

    # When the same request comes again
    second = _pay(client, "key-f", _body())
    spy.hold.set()
    first.join(30)

    # Then it is told to come back later, and the first completes
    assert second.status_code == 409
    assert results["first"].status_code == 201


def test_an_abandoned_key_is_taken_over_and_reuses_its_payment(
    client: httpx.Client, api_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given a request that claimed the key and created the payment, then died before finishing
    _pay(client, "key-a", _body())
    stale = datetime.now(UTC) - timedelta(seconds=api_settings.idempotency_lock_seconds + 5)
    with session_factory() as session, session.begin():
        session.execute(
            update(IdempotencyKey).values(response_status=None, response_body=None, locked_at=stale)
        )
        session.execute(update(Payment).values(state="pending"))

    again = _pay(client, "key-a", _body())

    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    with session_factory() as session:
        assert session.scalars(select(Payment.state)).all() == ["processing"]


def test_a_provider_outage_fails_the_payment_and_replays_the_failure(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    async def outage() -> None:
        async with httpx.AsyncClient(
            transport=client.app.state.gateway.provider_api._client._transport,  # type: ignore[attr-defined]
            base_url=SIMULATOR,
        ) as simulator:
            await simulator.post("/simulate/outage", json={"provider": "paystack", "count": 1})

    asyncio.run(outage())

    failed = _pay(client, "key-o", _body())
    again = _pay(client, "key-o", _body())

    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "provider_error"
    assert (again.status_code, again.json()) == (502, failed.json())
    with session_factory() as session:
        assert session.scalars(select(Payment.state)).one() == "failed"


def test_a_reference_already_taken_is_409(client: httpx.Client) -> None:
    _pay(client, "key-t1", _body())
    taken = _pay(client, "key-t2", _body(user_id="bob"))
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "reference_taken")


def test_a_reference_is_generated_when_absent(client: httpx.Client) -> None:
    body = _body()
    del body["reference"]
    created = _pay(client, "key-g", body).json()
    assert created["reference"].startswith("ph_")


@pytest.mark.parametrize(
    ("headers", "content", "status", "code"),
    [
        ({}, b'{"user_id": "a"}', 400, "idempotency_key_required"),
        ({"Idempotency-Key": "k" * 256}, b"{}", 400, "invalid_idempotency_key"),
        ({"Idempotency-Key": "k"}, b"not json", 400, "invalid_json"),
        ({"Idempotency-Key": "k"}, b'{"user_id": "a"}', 422, "invalid_request"),
    ],
    ids=["no-key", "long-key", "not-json", "missing-fields"],
)
def test_bad_requests_get_the_error_body(
    client: httpx.Client, headers: dict[str, str], content: bytes, status: int, code: str
) -> None:
    response = client.post("/payments", content=content, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 0},
        {"amount": 1.5},
        {"amount": "100"},
        {"currency": "ngn"},
        {"provider": "paypal"},
        {"user_id": "u" * 65},
        {"email": "nope"},
        {"extra": 1},
    ],
)
def test_invalid_fields_are_422(client: httpx.Client, change: dict[str, Any]) -> None:
    response = _pay(client, "key-v", _body(**change))
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")


def test_a_payment_and_a_wallet_can_be_read_back(client: httpx.Client) -> None:
    _pay(client, "key-read", _body())

    payment = client.get("/payments/pay-1").json()
    wallet = client.get("/wallets/ada").json()

    assert payment["reference"] == "pay-1"
    assert (payment["state"], payment["credited"], payment["completed_at"]) == (
        "processing",
        False,
        None,
    )
    assert (payment["user_id"], payment["amount"], payment["currency"]) == ("ada", 250_000, "NGN")
    assert payment["created_at"]
    assert wallet == {"user_id": "ada", "balances": {"NGN": 0}}
    assert client.get("/payments/nope").status_code == 404
    assert client.get("/wallets/nobody").json()["error"]["code"] == "user_not_found"
