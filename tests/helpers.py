"""Builders and waiters shared by the tests (no fakes of Kafka, PostgreSQL or Redis)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from schemas.providers import SCHEMES


def paystack_body(
    reference: str,
    amount: int = 500_000,
    currency: str = "NGN",
    event: str = "charge.success",
    status: str = "success",
) -> bytes:
    return json.dumps(
        {
            "event": event,
            "data": {
                "id": 302961,
                "reference": reference,
                "amount": amount,
                "currency": currency,
                "status": status,
                "paid_at": "2026-11-27T10:00:00Z",
            },
        }
    ).encode()


def signed_headers(
    provider: str, body: bytes, secret: str, *, now: float | None = None, event_id: str = "evt_test"
) -> dict[str, str]:
    headers = SCHEMES[provider].sign(
        body, secret.encode(), now=now or time.time(), event_id=event_id
    )
    return {**headers, "content-type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], Any], *, seconds: float = 60, every: float = 0.2) -> Any:
    """Poll until `check()` is truthy; return it, or fail with the last value seen."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = check()
    assert value, f"condition not met within {seconds} s (last value: {value!r})"
    return value


@contextmanager
def payhooks_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `payhooks …` process, stopped with SIGTERM (then SIGKILL) at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "payhooks", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_http_ready(url: str, seconds: float = 60) -> None:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(ready, seconds=seconds)
