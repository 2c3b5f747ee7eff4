"""Issue #10 item 8, "unknown is not failed": when the provider's answer to initialize is lost
after the request may have reached it (read timeout, 5xx, connection dropped mid-answer), the
payment stays `processing`, and the customer's later genuine payment is credited. Only a definite
refusal (4xx, or a connection that never opened) fails it.

On the old main every provider error failed the payment, and the later success was refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumer.bootstrap import bootstrap as bootstrap_consumer
from consumer.entrypoints.worker import run as run_consumer
from consumer.settings import ConsumerSettings
from kernel.db.tables import LedgerTransaction, Payment, Wallet
from kernel.settings import Settings
from payhooks_devtools.simulator.app import build_simulator
from payhooks_devtools.simulator.events import webhook_body
from payments_api.adapters.provider_api import ProviderApi
from payments_api.settings import ApiSettings
from schemas.providers import SCHEMES
from tests.gateway_support import SECRETS, api_client, gateway_client, with_providers
from tests.helpers import eventually, narrowed

pytestmark = pytest.mark.integration
SIMULATOR = "http://simulator"


@dataclass
class FaultyProvider(httpx.AsyncBaseTransport):
    """The simulator over ASGI with one fault. `timeout`, `5xx` and `dropped` happen after the
    provider got (and acted on) the request; `refused` and `unreachable` before or instead."""

    inner: httpx.AsyncBaseTransport
    fault: str

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fault == "unreachable":
            raise httpx.ConnectError("connection refused", request=request)
        if self.fault == "refused":
            return httpx.Response(400, json={"status": False, "message": "Invalid email"})
        answer = await self.inner.handle_async_request(request)  # the provider has it now
        if self.fault == "timeout":
            raise httpx.ReadTimeout("timed out reading the answer", request=request)
        if self.fault == "dropped":
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        if self.fault == "5xx":
            return httpx.Response(502, text="Bad Gateway")
        return answer


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return with_providers(settings, paystack_api_base=f"{SIMULATOR}/paystack")


@contextmanager
def api_with(settings: Settings, fault: str) -> Iterator[httpx.Client]:
    inner = httpx.ASGITransport(app=build_simulator(settings, SIMULATOR))
    provider_api = ProviderApi(
        narrowed(settings, ApiSettings), httpx.AsyncClient(transport=FaultyProvider(inner, fault))
    )
    with api_client(settings, provider_api=provider_api) as client:
        yield client


def _initialize(client: httpx.Client, reference: str) -> httpx.Response:
    body = {
        "user_id": "ada",
        "amount": 250_000,
        "currency": "NGN",
        "provider": "paystack",
        "email": "ada@example.com",
        "reference": reference,
    }
    return client.post("/payments", json=body, headers={"Idempotency-Key": f"k-{reference}"})


def _state(factory: sessionmaker[Session], reference: str) -> str:
    with factory() as session:
        return session.scalars(select(Payment.state).where(Payment.reference == reference)).one()


@pytest.mark.parametrize(
    ("fault", "state", "code"),
    [
        ("timeout", "processing", "provider_outcome_unknown"),
        ("5xx", "processing", "provider_outcome_unknown"),
        ("dropped", "processing", "provider_outcome_unknown"),
        ("refused", "failed", "provider_error"),
        ("unreachable", "failed", "provider_error"),
    ],
)
def test_only_a_definite_refusal_fails_the_payment(
    api_settings: Settings,
    session_factory: sessionmaker[Session],
    fault: str,
    state: str,
    code: str,
) -> None:
    with api_with(api_settings, fault) as client:
        answer = _initialize(client, f"pay-{fault}")
        replay = _initialize(client, f"pay-{fault}")

    assert (answer.status_code, answer.json()["error"]["code"]) == (502, code)
    assert f"is {state}" in answer.json()["error"]["message"]
    assert replay.json() == answer.json()  # stored under the key, as any answer
    assert _state(session_factory, f"pay-{fault}") == state


@contextmanager
def consumer(settings: Settings) -> Iterator[None]:
    app = bootstrap_consumer(narrowed(settings, ConsumerSettings))
    stop = threading.Event()
    thread = threading.Thread(target=run_consumer, args=(app, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
        app.close()


def test_a_success_after_a_lost_answer_is_credited(
    api_settings: Settings, session_factory: sessionmaker[Session], topics: tuple[str, ...]
) -> None:
    # Given the initialize answer was lost after Paystack created the transaction
    with api_with(api_settings, "timeout") as client:
        assert _initialize(client, "pay-late").status_code == 502
    assert _state(session_factory, "pay-late") == "processing"

    # When the customer pays and Paystack's signed success webhook arrives
    raw = webhook_body("paystack", "pay-late", 250_000, "NGN")
    headers = SCHEMES["paystack"].sign(raw, SECRETS["paystack"].encode(), now=0, event_id="e")
    with gateway_client(api_settings) as gateway, consumer(api_settings):
        accepted = gateway.post("/webhooks/paystack", content=raw, headers=headers)
        assert accepted.status_code == 202, accepted.text

        # Then the payment is credited, once
        eventually(lambda: _state(session_factory, "pay-late") == "completed", seconds=60)
    with session_factory() as session:
        assert session.scalars(select(LedgerTransaction.amount)).all() == [250_000]
        assert session.scalars(select(Wallet.balance)).one() == 250_000
