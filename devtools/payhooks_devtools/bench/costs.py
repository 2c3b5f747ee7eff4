"""What the gateway's accept path spends per webhook on its parts, measured in-process (no HTTP,
no Kafka): verify + normalize + envelope JSON, the `webhook.accepted` log line (JSON, written to
/dev/null), and the two Prometheus metrics. Run as `python -m payhooks_devtools.bench.costs` (it
configures logging for itself, so it runs in its own process) and prints one JSON object of
microseconds per call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from kernel.logs import configure_logging
from payhooks_devtools.bench.ledger import SECRET, amount_of, paystack_webhook
from producer_gateway.adapters.metrics import GatewayMetrics
from producer_gateway.domain.intake import main_record, verify_and_normalize
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

    def intake(n: int) -> object:
        body, headers = webhooks[n % len(webhooks)]
        envelope = verify_and_normalize(
            scheme, body, headers, secrets, now=time.time(), tolerance_seconds=300,
            received_at=datetime.now(UTC),
        )  # fmt: skip
        return main_record(envelope, "payments.webhooks")

    with open("/dev/null", "w") as sink:
        sys.stderr = sink
        configure_logging("json")
        log = structlog.get_logger("payhooks.gateway")

        def log_line(n: int) -> object:
            log.info("webhook.accepted", event_type="charge.success", topic="payments.webhooks",
                     provider="paystack", event_id=f"evt-{n}", reference=f"cost{n}")  # fmt: skip
            return None

        log_us = _per_call_us(log_line)
        sys.stderr = sys.__stderr__
    metrics = GatewayMetrics()

    def two_metrics(_: int) -> object:
        metrics.published("main", 0.003)
        metrics.count("paystack", "accepted")
        return None

    return {
        "verify_normalize_envelope_us": _per_call_us(intake),
        "accepted_log_line_us": log_us,
        "two_metrics_us": _per_call_us(two_metrics),
    }


def gateway_costs(python: str) -> dict[str, float]:
    """Run `measure()` in a child process (it configures logging globally)."""

    out = subprocess.run(
        [python, "-m", "payhooks_devtools.bench.costs"], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


if __name__ == "__main__":
    print(json.dumps(measure()))
