"""The gateway on the real Kafka: every provider accepted durably, every bad input refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from structlog.testing import capture_logs

from kernel.settings import Settings
from payhooks_devtools.simulator.events import non_payment_body, webhook_body
from schemas import headers as hdr
from schemas.envelope import WebhookEnvelope
from schemas.names import dlq_topic, main_topic
from tests.gateway_support import OLD_SECRETS, SECRETS, gateway_client, with_providers
from tests.helpers import read_committed, signed_headers

pytestmark = pytest.mark.integration
PROVIDERS = tuple(SECRETS)
NOW = 1_800_000_000.0


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    return with_providers(settings, rotation=True)


@pytest.fixture
def client(gateway_settings: Settings, topics: tuple[str, ...]) -> Iterator[httpx.Client]:
    with gateway_client(gateway_settings, clock=lambda: NOW) as client:
        yield client


def _post(
    client: httpx.Client, provider: str, body: bytes, secret: str, **kw: object
) -> httpx.Response:
    headers = signed_headers(provider, body, secret, now=NOW, event_id=f"msg_{provider}")
    return client.post(f"/webhooks/{provider}", content=body, headers=headers)


def _error(response: httpx.Response) -> tuple[int, str]:
    payload = response.json()
    assert set(payload["error"]) == {"code", "message"}
    return response.status_code, payload["error"]["code"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_genuine_webhook_is_on_the_topic_keyed_by_reference(
    client: httpx.Client, gateway_settings: Settings, provider: str
) -> None:
    # Given a genuine success webhook of the provider
    body = webhook_body(provider, f"ref-{provider}", 150_050, "NGN")

    # When it is posted
    response = _post(client, provider, body, SECRETS[provider])

    # Then it is accepted, and Kafka holds it under the payment reference
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    [record] = read_committed(
        gateway_settings.kafka_bootstrap, main_topic(gateway_settings.topic_prefix), expect=1
    )
    envelope = WebhookEnvelope.from_bytes(record.value())
    assert record.key() == f"ref-{provider}".encode()
    assert (envelope.provider, envelope.reference, envelope.amount, envelope.currency) == (
        provider,
        f"ref-{provider}",
        150_050,
        "NGN",
    )
    assert envelope.event_id == response.json()["event_id"]
    assert envelope.body_bytes == body
    assert envelope.signature_headers  # enough to verify it again downstream


@pytest.mark.parametrize("provider", PROVIDERS)
def test_events_about_no_payment_are_published_keyed_by_event_id(
    client: httpx.Client, gateway_settings: Settings, provider: str
) -> None:
    response = _post(client, provider, non_payment_body(provider), SECRETS[provider])

    assert response.status_code == 202
    [record] = read_committed(
        gateway_settings.kafka_bootstrap, main_topic(gateway_settings.topic_prefix), expect=1
    )
    envelope = WebhookEnvelope.from_bytes(record.value())
    assert envelope.reference == ""
    assert record.key() == f"event:{envelope.event_id}".encode()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_old_and_new_secrets_are_both_accepted_during_rotation(
    client: httpx.Client, provider: str
) -> None:
    for secret in (SECRETS[provider], OLD_SECRETS[provider]):
        body = webhook_body(provider, f"rot-{secret[-6:]}", 100, "NGN")
        assert _post(client, provider, body, secret).status_code == 202


@pytest.mark.parametrize("provider", ["stripe", "standard"])
@pytest.mark.parametrize(("offset", "status"), [(-300, 202), (300, 202), (-301, 401), (301, 401)])
def test_the_timestamp_window_edges(
    client: httpx.Client, provider: str, offset: int, status: int
) -> None:
    body = webhook_body(provider, "ref-window", 100, "NGN")
    headers = signed_headers(provider, body, SECRETS[provider], now=NOW + offset, event_id="m1")

    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)

    assert response.status_code == status


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_and_wrong_signatures_are_401(client: httpx.Client, provider: str) -> None:
    body = webhook_body(provider, "ref-x", 100, "NGN")
    unsigned = client.post(
        f"/webhooks/{provider}", content=body, headers={"content-type": "application/json"}
    )
    forged = _post(
        client, provider, body, "whsec_" + "d3Jvbmc=" if provider == "standard" else "wrong"
    )
    assert _error(unsigned) == (401, "invalid_signature")
    assert _error(forged) == (401, "invalid_signature")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "body", [b"not json at all", b'{"unexpected": true}'], ids=["not-json", "missing-fields"]
)
def test_signed_but_malformed_is_400_and_kept_on_the_dlq(
    client: httpx.Client, gateway_settings: Settings, provider: str, body: bytes
) -> None:
    # Given a body the provider really signed but that is not its webhook JSON
    response = _post(client, provider, body, SECRETS[provider])

    # Then 400, and the raw event waits on the DLQ with the reason
    assert _error(response) == (400, "malformed_payload")
    [record] = read_committed(
        gateway_settings.kafka_bootstrap, dlq_topic(gateway_settings.topic_prefix), expect=1
    )
    headers = {name: value.decode() for name, value in record.headers()}
    assert headers[hdr.ERROR_CLASS] == "MalformedPayload"
    assert provider in headers[hdr.ERROR_MESSAGE]
    assert WebhookEnvelope.from_bytes(record.value()).body_bytes == body
    assert not read_committed(
        gateway_settings.kafka_bootstrap,
        main_topic(gateway_settings.topic_prefix),
        expect=0,
        seconds=1,
    )


@pytest.mark.parametrize("provider", ["github", "PAYSTACK", "x" * 300])
def test_unknown_providers_are_404(client: httpx.Client, provider: str) -> None:
    response = client.post(f"/webhooks/{provider}", content=b"{}")
    assert _error(response) == (404, "unknown_provider")


def test_a_provider_without_a_secret_is_404(settings: Settings, topics: tuple[str, ...]) -> None:
    # Given only Paystack is configured (the test settings)
    with gateway_client(settings) as client:
        body = webhook_body("stripe", "r", 100, "NGN")
        response = client.post(
            "/webhooks/stripe", content=body, headers=signed_headers("stripe", body, "whsec_x")
        )
    assert _error(response) == (404, "unknown_provider")


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(client: httpx.Client) -> None:
    limit = 256 * 1024
    declared = client.post("/webhooks/paystack", content=b"x" * (limit + 1))

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1024 + 2):
            yield b"y" * 1024

    streamed = client.post("/webhooks/paystack", content=chunks())

    assert _error(declared) == (413, "body_too_large")
    assert _error(streamed) == (413, "body_too_large")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(client: httpx.Client, method: str) -> None:
    assert _error(client.request(method, "/webhooks/paystack")) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("POST", "/payments"),
        ("GET", "/payments/ref-1"),
        ("GET", "/wallets/ada"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/webhooks"),
    ],
)
def test_every_non_webhook_non_health_path_is_404(
    client: httpx.Client, method: str, path: str
) -> None:
    # The public listener serves webhooks and health only: payments, wallets, metrics and the
    # API's description live on other listeners.
    assert _error(client.request(method, path)) == (404, "not_found")


def test_health_readiness_and_metrics(client: httpx.Client) -> None:
    body = webhook_body("paystack", "ref-metrics", 100, "NGN")
    _post(client, "paystack", body, SECRETS["paystack"])
    client.post("/webhooks/paystack", content=body)

    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    metrics = client.app.state.gateway.metrics.render().decode()  # type: ignore[attr-defined]
    assert 'payhooks_gateway_webhooks_total{outcome="accepted",provider="paystack"} 1.0' in metrics
    assert (
        'payhooks_gateway_webhooks_total{outcome="invalid_signature",provider="paystack"} 1.0'
        in metrics
    )
    assert 'payhooks_gateway_publish_seconds_count{topic_kind="main"} 1.0' in metrics
    routes = {r.path for r in client.app.routes}  # type: ignore[attr-defined]
    assert routes == {"/webhooks/{provider}", "/healthz", "/readyz"}


def test_secrets_and_signatures_never_reach_the_logs(client: httpx.Client) -> None:

    body = webhook_body("stripe", "ref-logs", 100, "NGN")
    headers = signed_headers("stripe", body, SECRETS["stripe"], now=NOW, event_id="m")
    with capture_logs() as logs:
        client.post("/webhooks/stripe", content=body, headers=headers)
        client.post("/webhooks/stripe", content=body, headers={"stripe-signature": "t=1,v1=abc"})
        client.post(
            "/webhooks/stripe",
            content=b"{}",
            headers=signed_headers("stripe", b"{}", SECRETS["stripe"], now=NOW),
        )
    text = json.dumps(logs, default=str)
    assert logs
    assert SECRETS["stripe"] not in text
    assert headers["stripe-signature"].split("v1=")[1] not in text
