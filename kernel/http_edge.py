"""What every payhooks HTTP listener shares at its edge: the error body
`{"error": {"code", "message"}}`, a bounded body reader, and the handler that answers
Starlette's own 404/405 in that body."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Generator, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope


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
    return await read_raw_body(request.headers, request.receive, limit, timeout_seconds)


async def read_raw_body(
    headers: Mapping[str, str], receive: Receive, limit: int, timeout_seconds: float | None
) -> bytes:
    """`read_body` from the request's headers and its ASGI `receive` (no `Request` needed)."""
    declared = headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 12 or int(declared) > limit)
    ):
        raise BodyTooLarge
    arrived = _already_arrived(receive)
    if isinstance(arrived, tuple) and not arrived[1] and len(arrived[0]) <= limit:
        return arrived[0]  # the usual webhook: its whole body came with the head, no timer
    try:
        async with asyncio.timeout(timeout_seconds):
            first = arrived if isinstance(arrived, tuple) else _body_of(await arrived)
            return await _read_rest(receive, limit, first)
    except TimeoutError as exc:
        raise BodyTooSlow from exc


def scope_headers(scope: Scope) -> dict[str, str]:
    """The request's headers as a plain dict, built once: names as the server gives them (ASGI:
    lower-case), latin-1 like Starlette's `Headers`, and the first of repeated names wins as
    in `Headers.get`. Each lookup is then a dict lookup, not a scan decoding every header
    (Starlette's `Headers`: ~5 µs per webhook over its handful of lookups)."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


def _already_arrived(receive: Receive) -> tuple[bytes, bool] | _Suspended:
    """The first ASGI message if `receive()` has it at hand (the usual webhook: its body came in
    the same read as its head), else the suspended call, to be awaited under the timeout.
    Starting the call by hand saves arming and disarming `asyncio.timeout` (its timer handle
    and cancel bookkeeping, ~2-3 µs) on every webhook whose body is already there."""
    call = receive().__await__()
    try:
        waiting_on = call.send(None)
    except StopIteration as done:
        return _body_of(done.value)
    return _Suspended(call, waiting_on)


class _Suspended:
    """A started `receive()` that is waiting: awaiting this resumes it where it stopped,
    passing the task's wake-ups and cancellation (the timeout's) through to it."""

    def __init__(self, call: Generator[Any, None, Message], waiting_on: Any) -> None:
        self._call, self._waiting_on = call, waiting_on

    def __await__(self) -> Generator[Any, None, Message]:
        call, waiting_on = self._call, self._waiting_on
        while True:
            try:
                yield waiting_on
            except BaseException as exc:  # noqa: BLE001 - handed to the call, which decides
                step = functools.partial(call.throw, exc)
            else:
                step = functools.partial(call.send, None)
            try:
                waiting_on = step()
            except StopIteration as done:
                message: Message = done.value
                return message


async def _read_rest(receive: Receive, limit: int, first: tuple[bytes, bool]) -> bytes:
    """The body from its first message on, ASGI messages straight from `receive` (Starlette's
    `Request.stream()` is an async generator: a measurable share of a webhook's cost)."""
    data, more = first
    chunks, size = [data], len(data)
    while size <= limit:
        if not more:
            return b"".join(chunks)
        data, more = _body_of(await receive())
        chunks.append(data)
        size += len(data)
    raise BodyTooLarge


def _body_of(message: Message) -> tuple[bytes, bool]:
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
