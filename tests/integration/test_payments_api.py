"""`payhooks api`: POST /payments with Stripe's idempotency semantics (keys scoped per client),
GET /payments/{ref}, GET /wallets/{user}, bearer tokens; on the real PostgreSQL and Redis, the
providers' APIs being the simulator (in process, over ASGI)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from kernel.db.tables import IdempotencyKey, Payment, Wallet
from kernel.settings import Settings
from payhooks_devtools.simulator.app import build_simulator
from payments_api.adapters.key_pruner import SqlKeyPruner
from payments_api.adapters.provider_api import ProviderApi
from payments_api.service_layer.prune import prune_idempotency_keys
from payments_api.settings import ApiSettings
from tests.gateway_support import (
    API_OLD_TOKEN,
    API_TOKEN,
    OTHER_TOKEN,
    api_client,
    with_providers,
)
from tests.helpers import narrowed

pytestmark = pytest.mark.integration
SIMULATOR = "http://simulator"


@dataclass
class ProviderSpy(httpx.AsyncBaseTransport):
    """The simulator over ASGI, recording the payment's state as the provider call begins, and
    able to hold calls (an in-flight request) until released."""

    sessions: sessionmaker[Session]
    inner: httpx.AsyncBaseTransport
    states_seen: list[str | None] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.states_seen.append(await asyncio.to_thread(self._state_from_another_connection))
        if request.headers.get("content-type") == "application/json":
            self.bodies.append(json.loads(await request.aread()))
        self.entered.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 30)
        return await self.inner.handle_async_request(request)

    def _state_from_another_connection(self) -> str | None:
        with self.sessions() as session:
            return session.scalars(select(Payment.state)).first()


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    bases: dict[str, Any] = {
        f"{p}_api_base": f"{SIMULATOR}/{p}"
        for p in ("paystack", "stripe", "flutterwave", "standard")
    }
    return with_providers(
        settings,
        **bases,
    )


@pytest.fixture
def spy(api_settings: Settings, session_factory: sessionmaker[Session]) -> ProviderSpy:
    simulator = build_simulator(api_settings, base_url=SIMULATOR)
    return ProviderSpy(session_factory, httpx.ASGITransport(app=simulator))


@pytest.fixture
def client(
    api_settings: Settings, spy: ProviderSpy, topics: tuple[str, ...]
) -> Iterator[httpx.Client]:
    provider_api = ProviderApi(
        narrowed(api_settings, ApiSettings), httpx.AsyncClient(transport=spy)
    )
    with api_client(api_settings, provider_api=provider_api) as client:
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
        assert payment.client == "tests"  # who asked for it
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
        row = session.get(IdempotencyKey, ("tests", "key-other"))
        assert row is not None
        session.add(
            IdempotencyKey(
                client="tests",
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


def test_a_provider_outage_leaves_the_payment_processing_and_replays_the_answer(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    async def outage() -> None:
        async with httpx.AsyncClient(
            transport=client.app.state.api.provider_api._client._transport,  # type: ignore[attr-defined]
            base_url=SIMULATOR,
        ) as simulator:
            await simulator.post("/simulate/outage", json={"provider": "paystack", "count": 1})

    asyncio.run(outage())

    failed = _pay(client, "key-o", _body())
    again = _pay(client, "key-o", _body())

    # A 5xx may come after the provider created the payment: unknown is not failed.
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "provider_outcome_unknown"
    assert (again.status_code, again.json()) == (502, failed.json())
    with session_factory() as session:
        assert session.scalars(select(Payment.state)).one() == "processing"


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
        ({"Idempotency-Key": "two words"}, b"{}", 400, "invalid_idempotency_key"),
        ({"Idempotency-Key": "k"}, b"not json", 400, "invalid_json"),
        ({"Idempotency-Key": "k"}, b'{"user_id": "a"}', 422, "invalid_request"),
    ],
    ids=["no-key", "long-key", "spaced-key", "not-json", "missing-fields"],
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


def _pay_as(client: httpx.Client, token: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/payments",
        json=body,
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        f"Basic {API_TOKEN}",
        f"Bearer {API_TOKEN}x",
        f"Bearer {API_TOKEN[:-1]}",
        "Bearer unknown-token-0123456789",
        "Bearer tests:" + API_TOKEN,
    ],
    ids=["none", "empty", "no-token", "basic", "longer", "shorter", "unknown", "pair"],
)
def test_a_missing_or_wrong_token_is_401_and_nothing_is_written(
    client: httpx.Client, session_factory: sessionmaker[Session], authorization: str | None
) -> None:
    headers = {"Idempotency-Key": "key-401"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = client.build_request("POST", "/payments", json=_body(), headers=headers)
    if authorization is None:
        del request.headers["Authorization"]

    response = client.send(request)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    with session_factory() as session:
        assert session.scalars(select(Payment)).all() == []


def test_every_route_but_health_needs_a_token(client: httpx.Client) -> None:
    _pay(client, "key-seen", _body())  # so the reads below would find something
    del client.headers["Authorization"]
    for method, path in [
        ("POST", "/payments"),
        ("GET", "/payments/pay-1"),
        ("GET", "/wallets/ada"),
        ("GET", "/openapi.json"),
    ]:
        response = client.request(method, path)
        assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")


def test_health_needs_no_token(client: httpx.Client) -> None:
    del client.headers["Authorization"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_rotation_old_and_new_tokens_are_the_same_client(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    # Given a payment created with the client's new token
    first = _pay_as(client, API_TOKEN, "key-rot", _body())

    # When the same request comes with the client's old token (still configured)
    again = _pay_as(client, API_OLD_TOKEN, "key-rot", _body())

    # Then both are accepted, and it is the same client's key: a replay, one payment
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    with session_factory() as session:
        assert session.scalars(select(Payment.client)).all() == ["tests"]


def test_idempotency_keys_are_scoped_per_client(
    client: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    # When two clients use the same key for different payments
    mine = _pay_as(client, API_TOKEN, "order-42", _body(reference="pay-mine"))
    theirs = _pay_as(client, OTHER_TOKEN, "order-42", _body(reference="pay-theirs", amount=7))

    # Then neither sees the other's answer: two payments, each recorded with its client
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["reference"] == "pay-theirs"
    with session_factory() as session:
        rows = session.execute(select(Payment.reference, Payment.client)).all()
        keys = session.execute(select(IdempotencyKey.client, IdempotencyKey.key)).all()
    assert sorted(rows) == [("pay-mine", "tests"), ("pay-theirs", "other")]
    assert sorted(keys) == [("other", "order-42"), ("tests", "order-42")]


def test_only_allow_listed_metadata_reaches_the_provider(
    client: httpx.Client, spy: ProviderSpy, session_factory: sessionmaker[Session]
) -> None:
    metadata = {"order_id": "o-1", "cancel_action": "https://evil.example/", "callback_url": "x"}

    created = _pay(client, "key-meta", _body(metadata=metadata))

    assert created.status_code == 201, created.text
    [sent] = spy.bodies
    assert sent["metadata"] == {"order_id": "o-1"}
    assert sent["callback_url"] != "x"
    with session_factory() as session:  # the whole metadata is kept on our side
        assert session.scalars(select(Payment.payment_metadata)).one() == metadata


def test_keys_past_their_ttl_are_pruned_and_can_start_afresh(
    client: httpx.Client, api_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given one key older than the retention and one fresh
    _pay(client, "key-old", _body(reference="pay-old"))
    _pay(client, "key-new", _body(reference="pay-new"))
    ttl = timedelta(hours=api_settings.idempotency_key_ttl_hours)
    with session_factory() as session, session.begin():
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "key-old")
            .values(created_at=datetime.now(UTC) - ttl - timedelta(minutes=1))
        )

    # When the api's pruning runs
    pruned = prune_idempotency_keys(SqlKeyPruner(session_factory), ttl, now=datetime.now(UTC))

    # Then only the old key is gone, its payment kept but let go of the key
    assert pruned == 1
    with session_factory() as session:
        assert session.scalars(select(IdempotencyKey.key)).all() == ["key-new"]
        keys = dict(session.execute(select(Payment.reference, Payment.idempotency_key)).all())
    assert keys == {"pay-old": None, "pay-new": "key-new"}
    # And the old key starts afresh: a new payment, not a replay
    again = _pay(client, "key-old", _body(reference="pay-old-2"))
    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers


def test_logs_name_the_client_never_the_token(client: httpx.Client) -> None:

    with capture_logs() as logs:
        _pay(client, "key-log", _body())
        client.get("/wallets/ada", headers={"Authorization": "Bearer wrong-token-0123456789"})
    initialized = next(entry for entry in logs if entry["event"] == "payment.initialized")
    assert initialized["client"] == "tests"
    assert any(entry["event"] == "api.unauthorized" for entry in logs)
    text = json.dumps(logs, default=str)
    assert API_TOKEN not in text
    assert "wrong-token-0123456789" not in text
