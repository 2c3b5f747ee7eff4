"""The public ASGI app: `POST /webhooks/{provider}`, `/healthz`, `/readyz` and nothing else
(every other path is 404). Verify, publish, answer; no database. Metrics are on the gateway's own
`--metrics-port` listener, the payment and wallet routes in `payhooks api`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import orjson
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kernel.http_edge import (
    BodyTooLarge,
    BodyTooSlow,
    error_response,
    http_error,
    read_raw_body,
    scope_headers,
)
from kernel.logs import tick_info_line
from kernel.settings import GatewayKnobs
from producer_gateway.adapters.kafka_publisher import PublishFailed
from producer_gateway.bootstrap import Gateway, WebhookProvider
from producer_gateway.domain.intake import (
    Record,
    accepted_record,
    dead_letter_record,
    verify_and_parse,
)
from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers import ProviderEvent

LOGGER = "payhooks.gateway"
log = structlog.get_logger(LOGGER)


def _unavailable() -> Response:
    return error_response(
        503,
        "kafka_unavailable",
        "the event could not be stored durably; retry later",
        headers={"Retry-After": "5"},
    )


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def receive_webhook(request: Request) -> Response:
    """The route's handler (Starlette's path; `GatewayApp` takes POSTs straight to
    `accept_webhook`)."""
    provider: str = request.path_params["provider"]
    headers = scope_headers(request.scope)
    return await accept_webhook(_gateway(request), provider, headers, request.receive)


async def accept_webhook(
    gateway: Gateway, provider: str, headers: Mapping[str, str], receive: Receive
) -> Response:
    """Verify, publish, answer: one `POST /webhooks/{provider}`."""
    settings = gateway.settings
    configured = gateway.webhook_providers.get(provider)
    if configured is None:
        gateway.metrics.count("unknown", "unknown_provider")
        return error_response(
            404,
            "unknown_provider",
            f"no provider {provider!r} is configured here; known: "
            f"{', '.join(settings.enabled_providers()) or 'none'}",
        )
    scheme = configured.scheme
    raw_body = await _bounded_body(gateway, headers, receive, provider)
    if isinstance(raw_body, Response):
        return raw_body
    now = gateway.clock()  # the one clock: the signature window and received_at agree
    received_at = datetime.fromtimestamp(now, UTC)
    try:
        event, record = _main_record(
            gateway, configured, raw_body, headers, now=now, received_at=received_at
        )
    except SignatureInvalid as exc:
        log.info("webhook.rejected", provider=provider, reason="signature", detail=exc.message)
        return _count(
            gateway,
            provider,
            "invalid_signature",
            error_response(401, "invalid_signature", str(exc)),
        )
    except MalformedPayload as exc:
        record = dead_letter_record(
            scheme,
            raw_body,
            headers,
            exc,
            received_at=received_at,
            main_topic=gateway.main_topic,
            dlq_topic=gateway.dlq_topic,
        )
        return await _dead_letter(gateway, provider, record, exc)
    fields = {"provider": provider, "event_id": event.event_id, "reference": event.reference}
    if not await _publish(gateway, record, "main", fields):
        return _count(gateway, provider, "unavailable", _unavailable())
    accepted = {"event_type": event.event_type, "topic": record.topic, **fields}
    tick_info_line(LOGGER, "webhook.accepted", accepted)
    return _count(gateway, provider, "accepted", Accepted(event.event_id))


def _main_record(
    gateway: Gateway,
    configured: WebhookProvider,
    raw_body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    received_at: datetime,
) -> tuple[ProviderEvent, Record]:
    """The verified event and its main-topic record; SignatureInvalid or MalformedPayload."""
    event, verified = verify_and_parse(
        configured.scheme,
        raw_body,
        headers,
        configured.secrets,
        now=now,
        tolerance_seconds=gateway.settings.signature_tolerance_seconds,
        body_signature_required=configured.body_signature_required,
    )
    record = accepted_record(
        configured.scheme,
        event,
        verified,
        raw_body=raw_body,
        headers=headers,
        received_at=received_at,
        topic=gateway.main_topic,
    )
    return event, record


async def _bounded_body(
    gateway: Gateway, headers: Mapping[str, str], receive: Receive, provider: str
) -> bytes | Response:
    """The raw body, or the 413 / 408 answer when it is too large or too slow to arrive."""
    settings = gateway.settings
    try:
        return await read_raw_body(
            headers, receive, settings.max_body_bytes, settings.gateway_body_timeout_seconds
        )
    except BodyTooLarge:
        return _count(gateway, provider, "body_too_large", _too_large(settings.max_body_bytes))
    except BodyTooSlow:
        return _count(gateway, provider, "body_too_slow", _too_slow(settings))


async def _dead_letter(
    gateway: Gateway, provider: str, record: Record, error: MalformedPayload
) -> Response:
    """Signed but unreadable: the provider really sent it, so it is kept on the DLQ, then 400.
    If the DLQ cannot take it, 503 so the provider sends it again."""
    fields = {"provider": provider, "event_id": record.key.removeprefix("event:")}
    if not await _publish(gateway, record, "dlq", fields):
        return _count(gateway, provider, "unavailable", _unavailable())
    log.warning(
        "webhook.dead_lettered",
        reason="malformed",
        detail=error.message,
        topic=record.topic,
        **fields,
    )
    return _count(
        gateway, provider, "malformed", error_response(400, "malformed_payload", error.message)
    )


async def _publish(gateway: Gateway, record: Record, kind: str, fields: dict[str, str]) -> bool:
    """True once Kafka holds the record (delivery report received)."""
    started = time.perf_counter()
    try:
        await gateway.publisher.publish(
            record.topic, key=record.key, value=record.value, headers=record.headers
        )
    except PublishFailed as exc:
        log.warning("webhook.unavailable", detail=str(exc), topic=record.topic, **fields)
        return False
    gateway.metrics.published(kind, time.perf_counter() - started)
    return True


class Accepted(Response):
    """The 202: the headers Starlette's `Response(body, 202, media_type="application/json")`
    sends, in the same order, but pre-built and sent as the two raw ASGI messages (no header
    list built and no background-task check per webhook)."""

    media_type = "application/json"
    _CONTENT_TYPE = (b"content-type", b"application/json")

    def __init__(self, event_id: str) -> None:  # sets what Response.__init__ would, directly
        self.status_code = 202
        self.background = None
        self.body = orjson.dumps({"status": "accepted", "event_id": event_id})
        self.raw_headers = [(b"content-length", b"%d" % len(self.body)), self._CONTENT_TYPE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def _count(gateway: Gateway, provider: str, outcome: str, response: Response) -> Response:
    gateway.metrics.count(provider, outcome)
    return response


def _too_slow(settings: GatewayKnobs) -> Response:
    return error_response(
        408,
        "body_timeout",
        f"the body did not arrive within {settings.gateway_body_timeout_seconds:g} s",
        headers={"Connection": "close"},
    )


def _too_large(limit: int) -> Response:
    return error_response(
        413, "body_too_large", f"the body is over {limit} bytes; webhooks are far smaller"
    )


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway = _gateway(request)
    if await gateway.publisher.ready(gateway.main_topic):
        return JSONResponse({"status": "ready"})
    return error_response(
        503,
        "not_ready",
        f"Kafka or the topic {gateway.main_topic} is not reachable",
        headers={"Retry-After": "5"},
    )


async def unexpected_error(_: Request, exc: Exception) -> Response:
    # The gateway never answers 500: whatever broke, the provider should retry.
    log.error("gateway.unexpected_error", error_class=type(exc).__name__, exc_info=exc)
    return error_response(
        503,
        "temporarily_unavailable",
        "the gateway could not take the request; retry later",
        headers={"Retry-After": "5"},
    )


ROUTES = [
    Route("/webhooks/{provider}", receive_webhook, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]


WEBHOOK_PREFIX = "/webhooks/"


class GatewayApp(Starlette):
    """Starlette, with `POST /webhooks/{provider}` taken straight to its handler: the one route
    providers call skips the exception middlewares, the router's regex match and Starlette's
    per-route wrappers (~12 µs of a webhook's CPU, and fewer frames to resume after the Kafka
    wait), and catches what they would have: any exception is the same 503 as
    `unexpected_error`. Every other request goes through Starlette as before (404, 405,
    health, lifespan)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = _webhook_provider(scope)
        if provider is None:
            await super().__call__(scope, receive, send)
            return
        gateway: Gateway = self.state.gateway
        try:
            response = await accept_webhook(gateway, provider, scope_headers(scope), receive)
        except Exception as exc:  # noqa: BLE001 - never a 500: the provider retries a 503
            response = await unexpected_error(Request(scope, receive), exc)
        await response(scope, receive, send)


def _webhook_provider(scope: Scope) -> str | None:
    """The `{provider}` of a `POST /webhooks/{provider}` request (one path segment), else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(WEBHOOK_PREFIX):
        return None
    provider = path[len(WEBHOOK_PREFIX) :]
    return provider if provider and "/" not in provider else None


def build_app(gateway: Gateway) -> GatewayApp:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    app = GatewayApp(
        routes=ROUTES,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
