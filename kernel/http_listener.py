"""The HTTP protocol of payhooks' listeners under uvicorn: httptools with a request-head cap.

uvicorn's httptools protocol parses in C (h11 is pure Python: ~115 µs more CPU per request on
this project's bench machine) but has no limit on the request head. This subclass adds one,
`max_head_bytes` = uvicorn's `h11_max_incomplete_event_size` (the same meaning: how many bytes
of a request head the server holds):

- a head still incomplete after more than that many bytes is answered 431 and the connection
  closed (nothing buffered without bound; a chunk may hold part of a head after a previous
  request's end, so the bound is the cap plus one read);
- a complete head over the cap is answered 431 before any route runs: measured exactly (target +
  header names and values, as they arrived) unless the reads it came in are within the cap
  anyway (the usual request, one read of a few hundred bytes, is not measured at all).
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEAD_BYTES = 16 * 1024


class HeadTooLarge(Exception):
    """The request head is over the listener's cap."""


def head_too_large_response(limit: int) -> bytes:
    """The whole 431 answer, in the usual error body; the connection is closed after it."""
    message = f"the request head is over {limit} bytes"
    body = orjson.dumps({"error": {"code": "headers_too_large", "message": message}})
    return b"".join(
        [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class CappedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol refusing request heads over `max_head_bytes` with 431."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._awaiting_head = True  # between requests or inside a head
        self._head_bytes = 0  # bytes of the reads since the head began: ≥ the head's size…
        self._head_counted = False  # …if the head began at the start of a read
        self._fresh_read = False  # no message has ended yet in the read being parsed
        self._head_refused = False

    def data_received(self, data: bytes) -> None:
        self._fresh_read = True
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._awaiting_head
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_counted = self._fresh_read

    def on_headers_complete(self) -> None:
        if not (self._head_counted and self._head_bytes <= self.max_head_bytes):
            # the reads' size is no bound (a head after another request in one read, or reads
            # over the cap): measure the head itself
            head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if head > self.max_head_bytes:
                self._head_refused = True
                # the parser stops and reports a callback error: uvicorn answers it with
                # send_400_response, which answers 431 for this one
                raise HeadTooLarge
        self._awaiting_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head, self._head_bytes, self._fresh_read = True, 0, False

    def send_400_response(self, msg: str) -> None:
        if self._head_refused:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self.transport.write(head_too_large_response(self.max_head_bytes))
        self.transport.close()
