"""Issue #10 item 6 (the api's part) and issue #12's bad input: whatever a client sends to
`POST /payments`, the answer is a 4xx with the error body and nothing is committed — no user, no
wallet, no payment left `pending`, no idempotency key — and the provider is never called.

On the old main each of the first three answered 503 with a traceback after committing a
`pending` payment (or crashed before answering)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import IdempotencyKey, Payment, User, Wallet
from kernel.settings import Settings
from payhooks_devtools.simulator.app import build_simulator
from payments_api.adapters.provider_api import ProviderApi
from payments_api.settings import ApiSettings
from tests.gateway_support import api_client, with_providers
from tests.helpers import narrowed

pytestmark = pytest.mark.integration
SIMULATOR = "http://simulator"


@dataclass
class CountingTransport(httpx.AsyncBaseTransport):
    """The simulator over ASGI, counting the calls that reach the provider."""

    inner: httpx.AsyncBaseTransport
    calls: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(str(request.url))
        return await self.inner.handle_async_request(request)


@pytest.fixture
def provider(settings: Settings) -> CountingTransport:
    return CountingTransport(httpx.ASGITransport(app=build_simulator(settings, SIMULATOR)))


@pytest.fixture
def client(settings: Settings, provider: CountingTransport) -> Iterator[httpx.Client]:
    api_settings = with_providers(
        settings, paystack_api_base=f"{SIMULATOR}/paystack", api_rate_burst=1000
    )
    provider_api = ProviderApi(
        narrowed(api_settings, ApiSettings), httpx.AsyncClient(transport=provider)
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
        **changes,
    }


def _nothing_committed(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        counts = [
            session.scalar(select(func.count()).select_from(table))
            for table in (Payment, IdempotencyKey, User, Wallet)
        ]
    return counts == [0, 0, 0, 0]


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_metadata_nested_3000_deep_is_400_and_nothing_is_committed(
    client: httpx.Client, provider: CountingTransport, session_factory: sessionmaker[Session]
) -> None:
    body = json.dumps(_body())[:-1] + ', "metadata": ' + _nested(3000) + "}"
    response = client.post(
        "/payments",
        content=body.encode(),
        headers={"Idempotency-Key": "deep", "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json")
    assert _nothing_committed(session_factory)
    assert provider.calls == []


def test_a_nul_in_user_id_is_422_and_nothing_is_committed(
    client: httpx.Client, provider: CountingTransport, session_factory: sessionmaker[Session]
) -> None:
    response = client.post(
        "/payments", json=_body(user_id="ada\x00"), headers={"Idempotency-Key": "nul"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")
    assert response.json()["error"]["message"].startswith("user_id")
    assert _nothing_committed(session_factory)
    assert provider.calls == []


@pytest.mark.parametrize(
    "key",
    ["clé-1".encode(), "ключ".encode(), b"caf\xe9", "k\u00a0ey".encode()],
    ids=["utf8-latin", "cyrillic", "latin1-byte", "nbsp"],
)
def test_a_non_ascii_idempotency_key_is_400_and_nothing_is_committed(
    client: httpx.Client,
    provider: CountingTransport,
    session_factory: sessionmaker[Session],
    key: bytes,
) -> None:
    response = client.post("/payments", json=_body(), headers={b"Idempotency-Key": key})
    assert (response.status_code, response.json()["error"]["code"]) == (
        400,
        "invalid_idempotency_key",
    )
    assert _nothing_committed(session_factory)
    assert provider.calls == []


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "u" * 65},
        {"user_id": "line\nbreak"},
        {"email": "a\x00b@example.com"},
        {"email": "a@" + "b" * 320 + ".com"},
        {"reference": "r" * 101},
        {"reference": "ref\x00"},
        {"amount": 2**63},
        {"amount": 10**400},
        {"currency": "NG\x00"},
        {"metadata": {"nested": {"a": 1}}},
        {"metadata": {"k": ["list"]}},
        {"metadata": {"k": "v" * 501}},
        {"metadata": {"bad key": "v"}},
        {"metadata": {f"k{n}": n for n in range(21)}},
        {"metadata": {"k": "nul\x00"}},
    ],
    ids=[
        "user-id-65",
        "user-id-control",
        "email-nul",
        "email-long",
        "reference-101",
        "reference-nul",
        "amount-bigint",
        "amount-huge",
        "currency-nul",
        "metadata-nested",
        "metadata-list",
        "metadata-value-long",
        "metadata-key-space",
        "metadata-21-keys",
        "metadata-nul",
    ],
)
def test_every_field_is_bounded_to_its_column_before_the_database(
    client: httpx.Client,
    provider: CountingTransport,
    session_factory: sessionmaker[Session],
    change: dict[str, Any],
) -> None:
    response = client.post("/payments", json=_body(**change), headers={"Idempotency-Key": "b"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")
    assert _nothing_committed(session_factory)
    assert provider.calls == []


@pytest.mark.parametrize(
    "content",
    [b"", b"[]", b"null", b"\xff\xfe", b'{"user_id": "\\ud800"}', b"1e999999"],
    ids=["empty", "array", "null", "not-utf8", "lone-surrogate", "huge-number"],
)
def test_bodies_that_are_not_a_payment_are_4xx(
    client: httpx.Client, session_factory: sessionmaker[Session], content: bytes
) -> None:
    response = client.post("/payments", content=content, headers={"Idempotency-Key": "j"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_request"}
    assert _nothing_committed(session_factory)


@pytest.mark.parametrize(
    "path",
    [
        "/payments/ref%00",
        "/payments/" + "r" * 101,
        "/payments/caf%C3%A9",
        "/wallets/ada%00",
        "/wallets/" + "u" * 65,
        "/wallets/tab%09",
    ],
    ids=["ref-nul", "ref-101", "ref-non-ascii", "user-nul", "user-65", "user-control"],
)
def test_reads_of_impossible_ids_are_404_not_a_database_error(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] in {"payment_not_found", "user_not_found"}
