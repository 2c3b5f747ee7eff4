"""The real `payhooks api`, `payhooks gateway` and `payhooks simulator` processes: initialize
through the api (bearer token) and the simulator, then the simulator signs and posts the success
webhook to the gateway, which lands on Kafka."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port, wait_http_ok
from schemas.envelope import WebhookEnvelope
from schemas.names import main_topic
from tests.gateway_support import API_TOKEN, API_TOKENS, FIELDS, SECRETS
from tests.helpers import payhooks_process, read_committed

pytestmark = pytest.mark.integration


def simulator_env(env_for: dict[str, str], simulator: str) -> dict[str, str]:
    return {
        **env_for,
        **{f"PAYHOOKS_{FIELDS[p].upper()}": SECRETS[p] for p in SECRETS},
        **{f"PAYHOOKS_{p.upper()}_API_BASE": f"{simulator}/{p}" for p in SECRETS},
    }


@contextmanager
def gateway_and_simulator(env_for: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real gateway, api and simulator, wired to each other; yields the api's and the
    simulator's base URLs (the simulator posts its webhooks to the gateway)."""
    gateway_port, api_port, simulator_port = free_port(), free_port(), free_port()
    simulator = f"http://127.0.0.1:{simulator_port}"
    gateway = f"http://127.0.0.1:{gateway_port}"
    api = f"http://127.0.0.1:{api_port}"
    env = {
        **simulator_env(env_for, simulator),
        "PAYHOOKS_GATEWAY_URL": gateway,
        "PAYHOOKS_API_TOKENS": API_TOKENS,
    }
    with (
        payhooks_process(["gateway", "--port", str(gateway_port)], env, tmp_path / "gw.log"),
        payhooks_process(["api", "--port", str(api_port)], env, tmp_path / "api.log"),
        payhooks_process(["simulator", "--port", str(simulator_port)], env, tmp_path / "sim.log"),
    ):
        wait_http_ok(f"{gateway}/readyz")
        wait_http_ok(f"{api}/readyz")
        wait_http_ok(f"{simulator}/healthz")
        yield api, simulator


def initialize(api: str, provider: str, key: str) -> str:
    created = httpx.post(
        f"{api}/payments",
        json={
            "user_id": "ada",
            "amount": 123_450,
            "currency": "NGN",
            "provider": provider,
            "email": "ada@example.com",
        },
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    reference: str = created.json()["reference"]
    return reference


@pytest.mark.parametrize("provider", list(SECRETS))
def test_initialize_then_simulated_payment_reaches_kafka(
    settings: Settings,
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
    provider: str,
) -> None:
    with gateway_and_simulator(env_for, tmp_path) as (api, simulator):
        reference = initialize(api, provider, f"e2e-{provider}")
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


def test_a_lost_webhook_found_by_the_sweep_then_a_refund_and_a_lost_dispute(
    settings: Settings, topics: tuple[str, ...], env_for: dict[str, str], tmp_path: Path
) -> None:
    with gateway_and_simulator(env_for, tmp_path) as (api, simulator):
        reference = initialize(api, "paystack", "e2e-lifecycle")
        # Paid, webhook lost: only the verify API knows
        lost = httpx.post(
            f"{simulator}/simulate/pay", json={"reference": reference, "webhook": False}
        )
        assert lost.json()["status"] == "success"
        verify = f"{simulator}/paystack/transaction/verify/{reference}"
        assert httpx.get(verify).json()["data"]["status"] == "success"
        # `payhooks sweep --once` finds it paid and publishes its claim on the main topic
        swept = subprocess.run(
            [sys.executable, "-m", "payhooks", "sweep", "--once", "--older-than", "0s"],
            env=simulator_env(env_for, simulator),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert swept.returncode == 0, swept.stderr[-2000:]
        # A partial refund, then a lost dispute for the rest: signed webhooks, verify shows them
        refund = httpx.post(
            f"{simulator}/simulate/refund", json={"reference": reference, "amount": 23_450}
        )
        dispute = httpx.post(f"{simulator}/simulate/dispute", json={"reference": reference})
        assert [refund.json()["status_code"], dispute.json()["status_code"]] == [202, 202]
        assert dispute.json()["amount"] == 100_000
        assert httpx.get(verify).json()["data"]["amount_refunded"] == 123_450
        over = httpx.post(f"{simulator}/simulate/refund", json={"reference": reference})
        assert over.status_code == 400
    records = read_committed(settings.kafka_bootstrap, main_topic(settings.topic_prefix), expect=3)
    types = [WebhookEnvelope.from_bytes(r.value()).event_type for r in records]
    assert sorted(types) == ["charge.dispute.resolve", "payhooks.sweep.paid", "refund.processed"]
