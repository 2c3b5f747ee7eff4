"""The internal ASGI app of `payhooks api`: POST /payments, GET /payments/{reference},
GET /wallets/{user_id} and GET /openapi.json for bearer-token clients; /healthz and /readyz open.

Thin handlers over the service layer; the database is sync SQLAlchemy, run in Starlette's
threadpool. The client's name scopes its Idempotency-Keys and is recorded on its payments.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from functools import partial

import structlog
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel.http_edge import BodyTooLarge, error_response, http_error, read_body
from payments_api.bootstrap import Api
from payments_api.domain.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    ReferenceTaken,
)
from payments_api.domain.payments import (
    MAX_IDEMPOTENCY_KEY,
    InitializePayment,
    fingerprint,
    valid_idempotency_key,
)
from payments_api.entrypoints.http import api_of, authenticated
from payments_api.entrypoints.openapi import openapi_document
from payments_api.service_layer import initialize as service
from payments_api.service_layer.ports import ScopedKey
from payments_api.service_layer.prune import prune_idempotency_keys
from payments_api.service_layer.queries import payment_view, wallet_view

log = structlog.get_logger("payhooks.api")
MAX_REQUEST_BYTES = 64 * 1024


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise BadRequest(
            error_response(400, "idempotency_key_required", "send an Idempotency-Key header")
        )
    if not valid_idempotency_key(key):
        raise BadRequest(
            error_response(
                400,
                "invalid_idempotency_key",
                f"the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
                "characters without spaces",
            )
        )
    return key


async def _command(request: Request) -> InitializePayment:
    try:
        raw = await read_body(request, MAX_REQUEST_BYTES)
    except BodyTooLarge as exc:
        raise BadRequest(error_response(413, "body_too_large", "the body is too large")) from exc
    try:
        # pydantic's own JSON parser: bounded nesting, no Python recursion on deep documents.
        return InitializePayment.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(
                error_response(400, "invalid_json", "the body is not JSON (or nests too deep)")
            ) from exc
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(
            error_response(422, "invalid_request", f"{where}: {first['msg']}")
        ) from exc


async def initialize(request: Request, client: str) -> Response:
    api = api_of(request)
    try:
        key = ScopedKey(client, _idempotency_key(request))
        command = await _command(request)
        response = await _initialize(api, key, command)
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
    api.metrics.payments.labels(str(response.status_code)).inc()
    return response


async def _initialize(api: Api, key: ScopedKey, command: InitializePayment) -> Response:
    settings = api.settings
    use = service.Initializer(
        store=api.initialize_store,
        provider=api.provider_api,
        in_thread=run_in_threadpool,
        clock=api.clock,
        policy=service.KeyPolicy(
            ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
            lock_timeout=timedelta(seconds=settings.idempotency_lock_seconds),
        ),
    )
    return _respond(await service.initialize_payment(use, key, command, fingerprint(command)))


def _respond(stored: service.StoredResponse) -> Response:
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else None
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


async def get_payment(request: Request, _: str) -> Response:
    reference = request.path_params["reference"]
    found = await run_in_threadpool(payment_view, api_of(request).reads, reference)
    if found is None:
        return error_response(404, "payment_not_found", f"no payment has reference {reference!r}")
    return JSONResponse(found)


async def get_wallet(request: Request, _: str) -> Response:
    user_id = request.path_params["user_id"]
    found = await run_in_threadpool(wallet_view, api_of(request).reads, user_id)
    if found is None:
        return error_response(404, "user_not_found", f"no user {user_id!r} has a wallet")
    return JSONResponse(found)


async def openapi(_: Request, __: str) -> Response:
    return JSONResponse(openapi_document())


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _database_answers(api: Api) -> bool:
    try:
        with api.sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


async def readyz(request: Request) -> Response:
    if await run_in_threadpool(_database_answers, api_of(request)):
        return JSONResponse({"status": "ready"})
    return error_response(
        503, "not_ready", "PostgreSQL is not reachable", headers={"Retry-After": "5"}
    )


async def unexpected_error(_: Request, exc: Exception) -> Response:
    # Never 500: a dependency (PostgreSQL) failed, not the client; it may retry with its key.
    log.error("api.unexpected_error", error_class=type(exc).__name__, exc_info=exc)
    return error_response(
        503,
        "temporarily_unavailable",
        "the request could not be completed; retry later with the same Idempotency-Key",
        headers={"Retry-After": "5"},
    )


ROUTES = [
    Route("/payments", authenticated("payments", initialize), methods=["POST"]),
    Route("/payments/{reference}", authenticated("payment", get_payment), methods=["GET"]),
    Route("/wallets/{user_id}", authenticated("wallet", get_wallet), methods=["GET"]),
    Route("/openapi.json", authenticated("openapi", openapi), methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]


async def _prune_forever(api: Api) -> None:
    """Delete idempotency keys past their TTL, now and then every `api_prune_every_seconds`."""
    ttl = timedelta(hours=api.settings.idempotency_key_ttl_hours)
    while True:
        try:
            pruned = await run_in_threadpool(
                partial(prune_idempotency_keys, api.key_pruner, ttl, now=api.clock())
            )
        except SQLAlchemyError as exc:
            log.warning("api.prune_failed", error_class=type(exc).__name__)
        else:
            api.metrics.keys_pruned.inc(pruned)
            if pruned:
                log.info("api.keys_pruned", count=pruned)
        await asyncio.sleep(api.settings.api_prune_every_seconds)


def build_app(api: Api, *, prune: bool = True) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        pruning = asyncio.create_task(_prune_forever(api)) if prune else None
        yield
        if pruning is not None:
            pruning.cancel()
            with suppress(asyncio.CancelledError):
                await pruning
        await api.aclose()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
    )
    app.state.api = api
    return app
