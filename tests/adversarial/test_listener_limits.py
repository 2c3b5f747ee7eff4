"""Item 7, the public listener: a client that sends huge headers, trickles its body, or opens
connection after connection. The real `payhooks gateway` process caps the request head, answers
408 to a body that does not arrive in time, and 503 over its concurrency limit."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port, wait_http_ok
from tests.helpers import payhooks_process

pytestmark = pytest.mark.integration

LIMITS = {
    "PAYHOOKS_GATEWAY_MAX_HEADER_BYTES": "4096",
    "PAYHOOKS_GATEWAY_BODY_TIMEOUT_SECONDS": "1",
    "PAYHOOKS_GATEWAY_LIMIT_CONCURRENCY": "3",
}


@contextmanager
def gateway(env_for: dict[str, str], log: Path) -> Iterator[int]:
    port = free_port()
    with payhooks_process(["gateway", "--port", str(port)], {**env_for, **LIMITS}, log):
        wait_http_ok(f"http://127.0.0.1:{port}/healthz")
        yield port


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _exchange(port: int, request: bytes, *, then_wait: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        return sock.recv(65536) if then_wait else b""


def test_the_public_listener_caps_headers_times_out_slow_bodies_and_limits_concurrency(
    settings: Settings, topics: tuple[str, ...], env_for: dict[str, str], tmp_path: Path
) -> None:
    with gateway(env_for, tmp_path / "gateway.log") as port:
        # A request head over the cap is refused, whether it arrived whole or is still arriving
        huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 16_384 + b"\r\n\r\n"
        assert _status(_exchange(port, huge)) == 431
        assert _status(_exchange(port, huge[:6000])) == 431  # never ends: not held past the cap

        # A body that never finishes arriving is answered 408 (the client holds nothing long)
        slow = (
            b"POST /webhooks/paystack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"event":'
        )
        assert _status(_exchange(port, slow)) == 408

        # Over the concurrency limit (idle connections count), a request gets 503
        with ExitStack() as held:
            for _ in range(3):
                sock = held.enter_context(socket.create_connection(("127.0.0.1", port)))
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            over = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(over) == 503

        # And it still serves once they are gone
        assert _status(_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
