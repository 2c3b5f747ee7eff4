"""What every payhooks HTTP listener shares at its edge: the error body
`{"error": {"code", "message"}}`, a bounded body reader, and the handler that answers
Starlette's own 404/405 in that body."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


class BodyTooSlow(Exception):
    """The request body did not arrive within the configured time."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def read_body(request: Request, limit: int, timeout_seconds: float | None = None) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it all, and anything
    still arriving after `timeout_seconds` (a slow-body client holds no worker for long)."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 12 or int(declared) > limit)
    ):
        raise BodyTooLarge
    try:
        async with asyncio.timeout(timeout_seconds):
            return await _read(request.receive, limit)
    except TimeoutError as exc:
        raise BodyTooSlow from exc


async def _read(receive: Receive, limit: int) -> bytes:
    """ASGI messages straight from `receive` (Starlette's `Request.stream()` is an async
    generator: a measurable share of a webhook's cost); a body that came whole in one message,
    the usual case, is returned as it is."""
    data, more = await _message(receive)
    if not more and len(data) <= limit:
        return data
    chunks, size = [data], len(data)
    while size <= limit:
        if not more:
            return b"".join(chunks)
        data, more = await _message(receive)
        chunks.append(data)
        size += len(data)
    raise BodyTooLarge


async def _message(receive: Receive) -> tuple[bytes, bool]:
    message = await receive()
    if message["type"] != "http.request":  # http.disconnect: the client went away
        raise ClientDisconnect
    return message.get("body", b""), message.get("more_body", False)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_error(_: Request, exc: Exception) -> Response:
    """Starlette's routing errors (unknown path, wrong method) in the usual error body."""
    assert isinstance(exc, HTTPException)
    return error_response(
        exc.status_code,
        _HTTP_CODES.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers or {}),
    )
