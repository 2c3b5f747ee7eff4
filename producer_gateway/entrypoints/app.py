"""The ASGI app: parse the request, call the domain, publish, answer. Nothing else."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from producer_gateway.adapters.kafka_publisher import PublishFailed
from producer_gateway.bootstrap import Gateway
from producer_gateway.domain.intake import verify_and_normalize
from producer_gateway.entrypoints.http_errors import error_response
from schemas.envelope import WebhookEnvelope
from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers import SCHEMES

log = structlog.get_logger("payhooks.gateway")


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def receive_webhook(request: Request) -> Response:
    gateway = _gateway(request)
    settings = gateway.settings
    provider = request.path_params["provider"]
    scheme = SCHEMES.get(provider)
    secrets = settings.provider_secrets(provider)
    if scheme is None or not secrets:
        return error_response(
            404,
            "unknown_provider",
            f"no provider {provider!r} is configured here; known: "
            f"{', '.join(settings.enabled_providers()) or 'none'}",
        )
    try:
        raw_body = await read_body(request, settings.max_body_bytes)
    except BodyTooLarge:
        return error_response(
            413,
            "body_too_large",
            f"the body is over {settings.max_body_bytes} bytes; webhooks are far smaller",
        )
    try:
        envelope = verify_and_normalize(
            scheme,
            raw_body,
            request.headers,
            secrets,
            now=time.time(),
            tolerance_seconds=settings.signature_tolerance_seconds,
            received_at=datetime.now(UTC),
        )
    except SignatureInvalid as exc:
        log.info("webhook.rejected", provider=provider, reason="signature", detail=str(exc))
        return error_response(401, "invalid_signature", str(exc))
    except MalformedPayload as exc:
        log.info("webhook.rejected", provider=provider, reason="malformed", detail=str(exc))
        return error_response(400, "malformed_payload", str(exc))
    return await publish(gateway, envelope)


async def publish(gateway: Gateway, envelope: WebhookEnvelope) -> Response:
    """202 once Kafka holds the event; 503 + Retry-After when it does not."""
    fields = {
        "provider": envelope.provider,
        "event_id": envelope.event_id,
        "reference": envelope.reference,
    }
    try:
        await gateway.publisher.publish(
            gateway.main_topic, key=envelope.reference, value=envelope.to_bytes()
        )
    except PublishFailed as exc:
        log.warning("webhook.unavailable", detail=str(exc), **fields)
        return error_response(
            503,
            "kafka_unavailable",
            "the event could not be stored durably; retry later",
            headers={"Retry-After": "5"},
        )
    log.info("webhook.accepted", event_type=envelope.event_type, **fields)
    return JSONResponse({"status": "accepted", "event_id": envelope.event_id}, status_code=202)


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


async def http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers or {}),
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


def build_app(gateway: Gateway) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        gateway.close()

    app = Starlette(
        routes=[
            Route("/webhooks/{provider}", receive_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
