"""When Kafka cannot take an event, the gateway says so (503 + Retry-After): never 2xx."""

from __future__ import annotations

import pytest

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payhooks_devtools.simulator.events import webhook_body
from tests.gateway_support import SECRETS, gateway_client, with_providers
from tests.helpers import signed_headers

pytestmark = pytest.mark.integration


@pytest.fixture
def dead_kafka_settings(settings: Settings) -> Settings:
    # Nothing listens on a fresh free port: every produce times out.
    return with_providers(
        settings, kafka_bootstrap=f"127.0.0.1:{free_port()}", publish_timeout_seconds=1.0
    )


@pytest.mark.parametrize("provider", list(SECRETS))
def test_a_genuine_webhook_is_503_with_retry_after_when_kafka_is_down(
    dead_kafka_settings: Settings, provider: str
) -> None:
    body = webhook_body(provider, "ref-down", 100, "NGN")
    with gateway_client(dead_kafka_settings) as client:
        response = client.post(
            f"/webhooks/{provider}",
            content=body,
            headers=signed_headers(provider, body, SECRETS[provider], event_id="m"),
        )
        ready = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"]["code"] == "kafka_unavailable"
    assert ready.status_code == 503


def test_a_signed_malformed_webhook_is_503_when_the_dlq_cannot_take_it(
    dead_kafka_settings: Settings,
) -> None:
    # The provider really sent it: a 400 would make it give up, and the event would be lost.
    body = b"not json"
    with gateway_client(dead_kafka_settings) as client:
        response = client.post(
            "/webhooks/paystack",
            content=body,
            headers=signed_headers("paystack", body, SECRETS["paystack"]),
        )
    assert response.status_code == 503
    assert "retry-after" in response.headers
