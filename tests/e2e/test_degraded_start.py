"""A gateway and a consumer started while Kafka is down serve their probes, refuse webhooks with
503 + Retry-After, and recover by themselves once a broker answers on the configured address.

Kafka here is a PRIVATE broker on a free port (the shared one on 9092 is never stopped).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kernel.settings import Settings
from kernel.topics import ensure_topics
from payhooks_devtools.chaos.private_stack import free_port_pair
from payhooks_devtools.localnet import free_port, wait_http_ok
from payhooks_devtools.simulator.events import webhook_body
from payhooks_devtools.stack import default_cache_dir
from payhooks_devtools.stack.native import NativeKafka
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import eventually, payhooks_process, signed_headers

pytestmark = pytest.mark.e2e


def non_loopback_address() -> str:
    """An address of this machine that is not 127.x (what a kubelet or Prometheus would dial)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.250", 9))  # UDP connect sends nothing; it picks a route
            address = str(probe.getsockname()[0])
        except OSError:
            address = ""
    if address and not address.startswith("127."):
        return address
    shown = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False)
    for line in shown.stdout.splitlines():
        candidate = line.split()[3].split("/")[0]
        if not candidate.startswith("127."):
            return candidate
    raise AssertionError("this machine has no non-loopback IPv4 address to probe")


@pytest.fixture
def dead_bootstrap() -> str:
    return f"127.0.0.1:{free_port_pair()}"  # the broker's controller takes the next port


@pytest.fixture
def late_kafka(dead_bootstrap: str, tmp_path: Path) -> Iterator[NativeKafka]:
    kafka = NativeKafka(dead_bootstrap, tmp_path / "kafka-state", default_cache_dir())
    yield kafka
    kafka.stop()


def _webhook(url: str, reference: str) -> httpx.Response:
    body = webhook_body("paystack", reference, 500_000, "NGN")
    headers = signed_headers("paystack", body, PAYSTACK_SECRET)
    return httpx.post(f"{url}/webhooks/paystack", content=body, headers=headers, timeout=30)


def _only_json_lines(log: Path) -> list[dict[str, object]]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{log.name} has a line that is not JSON: {line[:200]!r}")
    return parsed


def _metrics_with(url: str, needle: str) -> str | None:
    text = httpx.get(url, timeout=10).text
    return text if needle in text else None


def _retried(log: Path, reference: str) -> dict[str, object] | None:
    for line in log.read_text().splitlines():
        if '"retry.scheduled"' in line and reference in line:
            entry: dict[str, object] = json.loads(line)
            return entry
    return None


def test_gateway_and_consumer_start_without_kafka_then_recover(
    settings: Settings,
    env_for: dict[str, str],
    dead_bootstrap: str,
    late_kafka: NativeKafka,
    tmp_path: Path,
) -> None:
    # Given Kafka does not answer on the configured address
    gateway_port, probes_port = free_port(), free_port()
    env = {
        **env_for,
        "PAYHOOKS_KAFKA_BOOTSTRAP": dead_bootstrap,
        "PAYHOOKS_PUBLISH_TIMEOUT_SECONDS": "2",
        "PAYHOOKS_METRICS_HOST": "0.0.0.0",  # noqa: S104 - what a pod does
        "PAYHOOKS_CONSUMER_METRICS_PORT": str(probes_port),
    }
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    probes_url = f"http://{non_loopback_address()}:{probes_port}"
    gateway_log, consumer_log = tmp_path / "gateway.log", tmp_path / "consumer.log"
    # When a gateway and a consumer start anyway
    with (
        payhooks_process(["gateway", "--port", str(gateway_port)], env, gateway_log),
        payhooks_process(["consumer"], env, consumer_log),
    ):
        # Then both are alive, neither is ready, and a webhook is refused for a retry
        wait_http_ok(f"{gateway_url}/healthz", seconds=60)
        assert httpx.get(f"{gateway_url}/readyz", timeout=10).status_code == 503
        refused = _webhook(gateway_url, "ref-degraded-1")
        assert refused.status_code == 503
        assert refused.headers["retry-after"].isdigit()
        wait_http_ok(f"{probes_url}/healthz", seconds=60)
        assert httpx.get(f"{probes_url}/readyz", timeout=10).status_code == 503
        eventually(lambda: "consumer.kafka_unavailable" in consumer_log.read_text(), seconds=60)

        # When a broker comes up on that address (and the topics are created, as a deploy job would)
        late_kafka.start(lambda _: None)

        ensure_topics(settings.model_copy(update={"kafka_bootstrap": dead_bootstrap}))

        # Then both recover without a restart
        wait_http_ok(f"{gateway_url}/readyz", seconds=90)
        # (a broker just up may take longer than the publish timeout: retry as a provider would)
        eventually(lambda: _webhook(gateway_url, "ref-degraded-2").status_code == 202, seconds=60)
        wait_http_ok(f"{probes_url}/readyz", seconds=120)
        # And the accepted webhook (no payment yet) goes to a retry topic, logged with its context
        eventually(lambda: _retried(consumer_log, "ref-degraded-2"), seconds=60)
        metrics = eventually(  # lag comes with librdkafka's next statistics (every 10 s)
            lambda: _metrics_with(f"{probes_url}/metrics", "payhooks_consumer_lag{"), seconds=45
        )
        assert 'payhooks_consumer_events_total{outcome="retry"}' in metrics

    # And what they wrote is one JSON object per line, the Kafka client's complaints included
    retried = _retried(consumer_log, "ref-degraded-2") or {}
    assert {"event_id", "topic", "partition", "offset"} <= set(retried)
    consumer_events = {line["event"] for line in _only_json_lines(consumer_log)}
    gateway_events = {line["event"] for line in _only_json_lines(gateway_log)}
    assert {"consumer.kafka_unavailable", "consumer.started"} <= consumer_events
    assert "gateway.kafka_unavailable" in gateway_events
