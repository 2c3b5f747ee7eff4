"""POST /payments, GET /payments/{reference}, GET /wallets/{user_id}: thin handlers over the
service layer. The database is sync SQLAlchemy, run in Starlette's threadpool."""

from __future__ import annotations

import json
from datetime import timedelta

import structlog
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer_gateway.bootstrap import Gateway
from producer_gateway.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ProviderError,
    ReferenceTaken,
)
from producer_gateway.domain.payments import MAX_IDEMPOTENCY_KEY, InitializePayment, fingerprint
from producer_gateway.entrypoints.http_errors import BodyTooLarge, error_response, read_body
from producer_gateway.service_layer import initialize as service
from producer_gateway.service_layer.queries import payment_view, wallet_view

log = structlog.get_logger("payhooks.gateway.payments")
MAX_REQUEST_BYTES = 64 * 1024


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise BadRequest(
            error_response(400, "idempotency_key_required", "send an Idempotency-Key header")
        )
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise BadRequest(
            error_response(
                400,
                "invalid_idempotency_key",
                f"the Idempotency-Key is over {MAX_IDEMPOTENCY_KEY} characters",
            )
        )
    return key


async def _command(request: Request) -> InitializePayment:
    try:
        body = json.loads(await read_body(request, MAX_REQUEST_BYTES))
    except BodyTooLarge as exc:
        raise BadRequest(error_response(413, "body_too_large", "the body is too large")) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(error_response(400, "invalid_json", "the body is not JSON")) from exc
    try:
        return InitializePayment.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(
            error_response(422, "invalid_request", f"{where}: {first['msg']}")
        ) from exc


async def initialize(request: Request) -> Response:
    gateway = _gateway(request)
    try:
        key = _idempotency_key(request)
        command = await _command(request)
        response = await _initialize(gateway, key, command)
    except BadRequest as exc:
        response = exc.response
    except IdempotencyKeyInFlight as exc:
        response = error_response(
            409, "idempotency_key_in_flight", exc.message, {"Retry-After": "1"}
        )
    except IdempotencyKeyReused as exc:
        response = error_response(422, "idempotency_key_reused", exc.message)
    except ReferenceTaken as exc:
        response = error_response(409, "reference_taken", exc.message)
    gateway.metrics.payments.labels(str(response.status_code)).inc()
    return response


async def _initialize(gateway: Gateway, key: str, command: InitializePayment) -> Response:
    settings = gateway.settings
    policy = service.KeyPolicy(
        ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
        lock_timeout=timedelta(seconds=settings.idempotency_lock_seconds),
    )
    begun = await run_in_threadpool(
        service.begin, gateway.sessions, key, command, fingerprint(command), policy
    )
    if isinstance(begun, service.StoredResponse):
        return _respond(begun)
    # No transaction is open here: the provider call may take seconds.
    outcome: str | ProviderError
    try:
        outcome = await gateway.provider_api.initialize(command, begun.reference, key)
    except ProviderError as exc:
        log.warning("payment.provider_failed", reference=begun.reference, detail=exc.message)
        outcome = exc
    stored = await run_in_threadpool(service.finish, gateway.sessions, key, command, begun, outcome)
    log.info("payment.initialized", reference=begun.reference, status=stored.status)
    return _respond(stored)


def _respond(stored: service.StoredResponse) -> Response:
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


async def get_payment(request: Request) -> Response:
    reference = request.path_params["reference"]
    found = await run_in_threadpool(payment_view, _gateway(request).sessions, reference)
    if found is None:
        return error_response(404, "payment_not_found", f"no payment has reference {reference!r}")
    return JSONResponse(found)


async def get_wallet(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    found = await run_in_threadpool(wallet_view, _gateway(request).sessions, user_id)
    if found is None:
        return error_response(404, "user_not_found", f"no user {user_id!r} has a wallet")
    return JSONResponse(found)
