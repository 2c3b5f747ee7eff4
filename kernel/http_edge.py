"""What every payhooks HTTP listener shares at its edge: the error body
`{"error": {"code", "message"}}`, a bounded body reader, and the handler that answers
Starlette's own 404/405 in that body."""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


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
            return await _read(request, limit)
    except TimeoutError as exc:
        raise BodyTooSlow from exc


async def _read(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


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
