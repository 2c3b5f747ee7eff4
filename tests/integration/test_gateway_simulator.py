"""The real `payhooks gateway` and `payhooks simulator` processes: initialize through the
simulator, then the simulator signs and posts the success webhook, which lands on Kafka."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from payhooks.localnet import free_port, wait_http_ok
from payhooks.settings import Settings
from schemas.envelope import WebhookEnvelope
from schemas.names import main_topic
from tests.gateway_support import FIELDS, SECRETS
from tests.helpers import payhooks_process, read_committed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("provider", list(SECRETS))
def test_initialize_then_simulated_payment_reaches_kafka(
    settings: Settings,
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
    provider: str,
) -> None:
    gateway_port, simulator_port = free_port(), free_port()
    simulator = f"http://127.0.0.1:{simulator_port}"
    env = {
        **env_for,
        **{f"PAYHOOKS_{FIELDS[p].upper()}": SECRETS[p] for p in SECRETS},
        **{f"PAYHOOKS_{p.upper()}_API_BASE": f"{simulator}/{p}" for p in SECRETS},
        "PAYHOOKS_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
    }
    with (
        payhooks_process(["gateway", "--port", str(gateway_port)], env, tmp_path / "gw.log"),
        payhooks_process(["simulator", "--port", str(simulator_port)], env, tmp_path / "sim.log"),
    ):
        wait_http_ok(f"http://127.0.0.1:{gateway_port}/readyz")
        wait_http_ok(f"{simulator}/healthz")
        created = httpx.post(
            f"http://127.0.0.1:{gateway_port}/payments",
            json={
                "user_id": "ada",
                "amount": 123_450,
                "currency": "NGN",
                "provider": provider,
                "email": "ada@example.com",
            },
            headers={"Idempotency-Key": f"e2e-{provider}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        assert created.json()["authorization_url"].startswith(simulator)

        paid = httpx.post(f"{simulator}/simulate/pay", json={"reference": reference}, timeout=30)

    assert paid.json()["status_code"] == 202, paid.text
    [record] = read_committed(settings.kafka_bootstrap, main_topic(settings.topic_prefix), expect=1)
    envelope = WebhookEnvelope.from_bytes(record.value())
    assert (envelope.provider, envelope.reference, envelope.amount) == (
        provider,
        reference,
        123_450,
    )
    assert record.key() == reference.encode()
