"""What the gateway's accept path spends per webhook on its parts, measured in-process (no HTTP,
no Kafka): verify + normalize + envelope JSON, the `webhook.accepted` log line (JSON, written to
/dev/null, by `kernel.logs.info_line` as the gateway writes it, and through structlog's chain for
comparison), the two Prometheus metrics, and a whole webhook through the gateway's ASGI app (a
publisher that returns at once, the body at hand as uvicorn hands it over, a no-op `send`).
Run as `python -m payhooks_devtools.bench.costs` (it configures logging for itself, so it runs
in its own process) and prints one JSON object of microseconds per call.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

import structlog
from pydantic import SecretStr
from starlette.types import Message, Scope

from kernel.logs import configure_logging, info_line
from payhooks_devtools.bench.ledger import SECRET, amount_of, paystack_webhook
from producer_gateway.adapters.kafka_publisher import KafkaPublisher
from producer_gateway.adapters.metrics import GatewayMetrics
from producer_gateway.bootstrap import bootstrap
from producer_gateway.domain.intake import accepted_record, verify_and_parse
from producer_gateway.entrypoints.app import build_app
from producer_gateway.settings import GatewaySettings
from schemas.providers import SCHEMES

CALLS = 20_000


def _per_call_us(call: Callable[[int], object], calls: int = CALLS) -> float:
    for n in range(200):  # warm-up
        call(n)
    start = time.perf_counter()
    for n in range(calls):
        call(n)
    return round(1e6 * (time.perf_counter() - start) / calls, 2)


def measure() -> dict[str, float]:
    scheme = SCHEMES["paystack"]
    secrets = (SECRET.encode(),)
    webhooks = [paystack_webhook(f"cost{n}", amount_of(n)) for n in range(1000)]

    def intake(n: int) -> object:  # as the gateway does it: verify, parse, the record's bytes
        body, headers = webhooks[n % len(webhooks)]
        event, verified = verify_and_parse(
            scheme, body, headers, secrets, now=time.time(), tolerance_seconds=300
        )
        return accepted_record(
            scheme, event, verified, raw_body=body, headers=headers,
            received_at=datetime.now(UTC), topic="payments.webhooks",
        )  # fmt: skip

    with open("/dev/null", "w") as sink:
        sys.stderr = sink
        configure_logging("json")
        log = structlog.get_logger("payhooks.gateway")

        def log_line(n: int) -> object:
            log.info("webhook.accepted", event_type="charge.success", topic="payments.webhooks",
                     provider="paystack", event_id=f"evt-{n}", reference=f"cost{n}")  # fmt: skip
            return None

        def fast_log_line(n: int) -> object:
            info_line("payhooks.gateway", "webhook.accepted", {"event_type": "charge.success",
                      "topic": "payments.webhooks", "provider": "paystack",
                      "event_id": f"evt-{n}", "reference": f"cost{n}"})  # fmt: skip
            return None

        structlog_us, log_us = _per_call_us(log_line), _per_call_us(fast_log_line)
        app_us = asyncio.run(_app_per_webhook_us(webhooks))
        sys.stderr = sys.__stderr__
    metrics = GatewayMetrics()

    def two_metrics(_: int) -> object:
        metrics.published("main", 0.003)
        metrics.count("paystack", "accepted")
        return None

    return {
        "verify_normalize_envelope_us": _per_call_us(intake),
        "accepted_log_line_us": log_us,
        "accepted_log_line_structlog_us": structlog_us,
        "two_metrics_us": _per_call_us(two_metrics),
        "app_per_webhook_us": app_us,
    }


class _Instant:
    """A publisher whose every record is stored at once."""

    async def publish(self, topic: str, *, key: str, value: bytes, headers: object = None) -> None:
        return None


async def _app_per_webhook_us(webhooks: list[tuple[bytes, dict[str, str]]]) -> float:
    """One webhook through the gateway's whole ASGI app, as uvicorn calls it, µs per call."""
    settings = GatewaySettings(paystack_secret_key=[SecretStr(SECRET)], topic_prefix="costs")
    app = build_app(bootstrap(settings, publisher=cast(KafkaPublisher, _Instant())))
    scopes = [_scope(body, headers) for body, headers in webhooks]
    answers: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    async def one(n: int) -> None:
        scope, body = scopes[n % len(scopes)]

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, receive, send)

    for n in range(200):  # warm-up
        await one(n)
    start = time.perf_counter()
    for n in range(CALLS):
        await one(n)
    elapsed = time.perf_counter() - start
    assert set(answers) == {202}, set(answers)
    return round(1e6 * elapsed / CALLS, 2)


def _scope(body: bytes, headers: dict[str, str]) -> tuple[Scope, bytes]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope: Scope = {"type": "http", "method": "POST", "path": "/webhooks/paystack", "headers": raw,
             "query_string": b"", "root_path": "", "scheme": "http"}  # fmt: skip
    return scope, body


def gateway_costs(python: str) -> dict[str, float]:
    """Run `measure()` in a child process (it configures logging globally)."""

    out = subprocess.run(
        [python, "-m", "payhooks_devtools.bench.costs"], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


if __name__ == "__main__":
    print(json.dumps(measure()))
