"""The guard every non-health route of the api goes through: bearer token (401), then the
client's rate limit (429)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response

from kernel.http_edge import error_response
from payments_api.bootstrap import Api

Handler = Callable[[Request, str], Awaitable[Response]]
log = structlog.get_logger("payhooks.api")


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
