"""`POST /webhooks/{provider}` goes straight to its handler (producer_gateway/entrypoints/app.py,
GatewayApp), not through Starlette's middlewares and router: it must still answer as before,
never 500 whatever breaks behind it, and leave every other request to Starlette."""

from __future__ import annotations

import asyncio
import time
from typing import cast

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.responses import Response
from structlog.testing import capture_logs

from producer_gateway.adapters.kafka_publisher import KafkaPublisher
from producer_gateway.bootstrap import bootstrap
from producer_gateway.entrypoints.app import Accepted, build_app
from producer_gateway.settings import GatewaySettings
from schemas.envelope import WebhookEnvelope
from schemas.providers import SCHEMES

SECRET = "sk_test_lane_0123456789abcdef"
BODY = (
    b'{"event":"charge.success","data":{"reference":"lane-1","amount":5000,'
    b'"currency":"NGN","status":"success"}}'
)


class FakePublisher:
    """Records what would go to Kafka; `broken` makes every publish fail unexpectedly."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.published: list[tuple[str, str, bytes]] = []

    async def publish(self, topic: str, *, key: str, value: bytes, headers: object = None) -> None:
        if self.broken:
            raise RuntimeError("something nobody expected")
        self.published.append((topic, key, value))

    async def ready(self, _: str) -> bool:
        return True

    def close(self) -> None:
        pass


def call(
    publisher: FakePublisher,
    method: str,
    path: str,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to the gateway app, in process."""
    settings = GatewaySettings(paystack_secret_key=[SecretStr(SECRET)], topic_prefix="lane")
    app = build_app(bootstrap(settings, publisher=cast(KafkaPublisher, publisher)))

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, path, content=content, headers=headers)

    return asyncio.run(send())


def signed() -> dict[str, str]:
    return SCHEMES["paystack"].sign(BODY, SECRET.encode(), now=time.time(), event_id="")


def test_a_genuine_webhook_is_published_and_accepted() -> None:
    publisher = FakePublisher()

    response = call(publisher, "POST", "/webhooks/paystack", BODY, signed())

    assert response.status_code == 202
    [(topic, key, value)] = publisher.published
    assert (topic, key) == ("lane.webhooks", "lane-1")
    assert response.json() == {
        "status": "accepted",
        "event_id": WebhookEnvelope.from_bytes(value).event_id,
    }


def test_whatever_breaks_behind_the_webhook_route_is_a_503_never_a_500() -> None:
    response = call(FakePublisher(broken=True), "POST", "/webhooks/paystack", BODY, signed())

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "temporarily_unavailable"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/webhooks/paystack", 405),
        ("POST", "/webhooks/", 404),
        ("POST", "/webhooks/paystack/extra", 404),
        ("POST", "/webhookz/paystack", 404),
        ("POST", "/webhooks/nope", 404),
        ("GET", "/healthz", 200),
    ],
)
def test_every_other_request_is_answered_as_starlette_routes_it(
    method: str, path: str, status: int
) -> None:
    response = call(FakePublisher(), method, path)

    assert response.status_code == status


def test_the_raw_202_is_what_starlettes_response_would_send() -> None:
    accepted = Accepted("evt-1")
    body = orjson.dumps({"status": "accepted", "event_id": "evt-1"})
    starlette = Response(body, status_code=202, media_type="application/json")
    assert (accepted.status_code, accepted.body) == (202, starlette.body)
    assert accepted.raw_headers == starlette.raw_headers


def test_an_accepted_webhook_is_logged_once_with_its_fields() -> None:
    with capture_logs() as logs:
        response = call(FakePublisher(), "POST", "/webhooks/paystack", BODY, signed())

    assert response.headers["content-type"] == "application/json"
    [line] = [entry for entry in logs if entry["event"] == "webhook.accepted"]
    assert line == {
        "event": "webhook.accepted",
        "log_level": "info",
        "event_type": "charge.success",
        "topic": "lane.webhooks",
        "provider": "paystack",
        "event_id": response.json()["event_id"],
        "reference": "lane-1",
    }
