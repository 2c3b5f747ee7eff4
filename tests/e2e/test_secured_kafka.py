"""payhooks against a broker that wants SASL/SCRAM over TLS, configured by a client properties
file as the Java client writes it: gateway, consumer, topics and `dlq replay` work; a wrong
password is one line naming the broker and SASL, exit ≠ 0, and no reconnect storm."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import Payment
from kernel.settings import Settings
from kernel.topics import delete_topics
from payhooks_devtools.localnet import free_port, wait_http_ok
from payments_api.adapters.payment_rows import create_payment
from schemas.names import dlq_topic
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import (
    dlq_record,
    eventually,
    payhooks_process,
    paystack_body,
    produce_in_transaction,
    signed_headers,
    webhook_envelope,
)
from tests.secure_kafka import SecureBroker, secure_broker

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("secure-kafka")) as started:
        yield started


def secured(
    settings: Settings, env_for: dict[str, str], broker: SecureBroker, folder: Path, password: str
) -> tuple[Settings, dict[str, str]]:
    """This test's settings and child environment, Kafka reached through a properties file."""
    properties = folder / "client.properties"
    properties.write_text(broker.java_properties(password))
    env = {key: value for key, value in env_for.items() if key != "PAYHOOKS_KAFKA_BOOTSTRAP"}
    env |= {"PAYHOOKS_KAFKA_CONFIG_FILE": str(properties), "PAYHOOKS_RETRY_DELAYS": "50ms"}
    kafka = settings.model_copy(
        update={"kafka_bootstrap": broker.secure_bootstrap, "kafka_config_file": properties}
    )
    return kafka, env


def payhooks(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def pay(factory: sessionmaker[Session], reference: str) -> None:
    with factory() as session:
        create_payment(
            session, reference=reference, user_id="ada", amount=250_000, currency="NGN",
            provider="paystack",
        )  # fmt: skip
        session.commit()


def credited(factory: sessionmaker[Session], reference: str) -> bool:
    with factory() as session:
        return bool(session.scalar(select(Payment.credited).where(Payment.reference == reference)))


def test_gateway_consumer_topics_and_replay_work_through_a_properties_file(
    settings: Settings,
    session_factory: sessionmaker[Session],
    env_for: dict[str, str],
    broker: SecureBroker,
    tmp_path: Path,
) -> None:
    kafka, env = secured(settings, env_for, broker, tmp_path, "scram-secret-Zx9")
    try:
        created = payhooks(["topics", "create"], env)
        assert created.returncode == 0, created.stderr
        checked = payhooks(["topics", "check"], env)
        assert (checked.returncode, checked.stdout.strip()) == (0, "topics as configured")
        pay(session_factory, "sec-1")
        port = free_port()
        body = paystack_body("sec-1", 250_000)

        with (
            payhooks_process(["gateway", "--port", str(port)], env, tmp_path / "gateway.log"),
            payhooks_process(["consumer"], env, tmp_path / "consumer.log"),
        ):
            wait_http_ok(f"http://127.0.0.1:{port}/readyz", seconds=60)
            accepted = httpx.post(
                f"http://127.0.0.1:{port}/webhooks/paystack",
                content=body,
                headers=signed_headers("paystack", body, PAYSTACK_SECRET),
                timeout=30,
            )
            assert accepted.status_code == 202, accepted.text
            eventually(lambda: credited(session_factory, "sec-1"), seconds=60)

            # A dead letter whose payment now exists: replayed over SASL_SSL, then credited.
            envelope = webhook_envelope("sec-2", PAYSTACK_SECRET, amount=250_000)
            produce_in_transaction(kafka, dlq_topic(kafka.topic_prefix), [dlq_record(envelope)])
            pay(session_factory, "sec-2")
            replay = payhooks(["dlq", "replay", "0:0"], env)
            assert replay.returncode == 0, replay.stderr
            assert "replayed 1" in replay.stdout
            eventually(lambda: credited(session_factory, "sec-2"), seconds=60)
    finally:
        delete_topics(kafka)


def authentication_failures(broker: SecureBroker) -> int:
    return broker.log.read_text(errors="replace").count("Failed authentication with")


@pytest.mark.parametrize(
    "command",
    [["consumer"], ["gateway", "--port", "0"], ["dlq", "list"], ["topics", "check"]],
    ids=["consumer", "gateway", "dlq", "topics"],
)
def test_a_wrong_password_is_one_line_naming_the_broker_and_sasl_without_a_retry_storm(
    settings: Settings,
    env_for: dict[str, str],
    broker: SecureBroker,
    tmp_path: Path,
    command: list[str],
) -> None:
    _, env = secured(settings, env_for, broker, tmp_path, "not-the-password")
    before = authentication_failures(broker)

    ran = payhooks(command, env)

    assert ran.returncode != 0
    [line] = ran.stderr.strip().splitlines()
    assert broker.secure_bootstrap in line
    assert "SASL authentication failed (SCRAM-SHA-512, user payhooks-app)" in line
    assert "not-the-password" not in line
    # The process's few clients (the consumer has three) try once or twice each, then it exits:
    # librdkafka alone would retry the refused login every second or so, for ever.
    assert authentication_failures(broker) - before <= 6
