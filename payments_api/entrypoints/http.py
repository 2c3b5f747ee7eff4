"""The api's error body `{"error": {"code", "message"}}`, bounded body reading, and the guard
every non-health route goes through: bearer token (401), then the client's rate limit (429)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from payments_api.bootstrap import Api

Handler = Callable[[Request, str], Awaitable[Response]]
log = structlog.get_logger("payhooks.api")


class BodyTooLarge(Exception):
    """The request body is over the limit."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


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


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def _unauthorized() -> Response:
    return error_response(
        401,
        "unauthorized",
        "send Authorization: Bearer <token> with a token from PAYHOOKS_API_TOKENS",
        headers={"WWW-Authenticate": 'Bearer realm="payhooks"'},
    )


def authenticated(route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """`handler(request, client)` behind the token check and the client's rate limit."""

    async def guarded(request: Request) -> Response:
        api = api_of(request)
        client = api.clients.authenticate(request.headers.get("authorization"))
        if client is None:
            api.metrics.unauthorized.inc()
            log.info("api.unauthorized", route=route)
            return _unauthorized()
        with structlog.contextvars.bound_contextvars(client=client):
            decision = await api.rate_limiter.check(client)
            if not decision.allowed:
                api.metrics.rate_limited.labels(client).inc()
                log.info("api.rate_limited", route=route, shared=decision.shared)
                response: Response = error_response(
                    429,
                    "rate_limited",
                    f"over this client's rate limit; retry in {decision.retry_after_seconds} s",
                    headers={"Retry-After": str(decision.retry_after_seconds)},
                )
            else:
                response = await handler(request, client)
        api.metrics.requests.labels(route, client, str(response.status_code)).inc()
        return response

    return guarded
