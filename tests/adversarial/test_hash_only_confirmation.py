"""Item 2, hash-only credit: Flutterwave's verif-hash is a static string, not a signature of the
body. Whoever holds it can claim any payment succeeded; the consumer credits such an event only
once Flutterwave's verify API (here the simulator, truthful: pending until paid) confirms the
status, amount, currency and reference. A process refuses to start with hash-only Flutterwave
left unconfirmed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.orm import Session, sessionmaker

from kernel.settings import Settings
from payhooks_devtools.simulator.app import SimulatedPayment, build_simulator
from payhooks_devtools.simulator.events import webhook_body
from schemas import headers as h
from schemas.names import dlq_topic, main_topic
from tests.adversarial.support import (
    adversarial_settings,
    credits_of,
    given_payment,
    header,
    published,
    worker,
)
from tests.gateway_support import SECRETS, serving
from tests.helpers import eventually, produce_records, read_committed

pytestmark = pytest.mark.integration

HASH_ONLY = {"verif-hash": SECRETS["flutterwave"]}


def test_a_hash_only_success_credits_only_what_flutterwave_confirms_paid(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    # Given two Flutterwave payments: one paid at Flutterwave, one never paid
    simulator = build_simulator(settings, "http://127.0.0.1")
    known = simulator.state.simulator.payments
    for reference, status in (("flw-paid", "success"), ("flw-unpaid", "pending")):
        given_payment(session_factory, reference, provider="flutterwave")
        known[reference] = SimulatedPayment("flutterwave", reference, 500_000, "NGN", "", status)
    with serving(simulator) as url:
        tuned = adversarial_settings(settings, flutterwave_api_base=f"{url}/flutterwave")
        # When a hash-only success arrives for each (what anyone holding the hash can send)
        records = []
        for reference in ("flw-paid", "flw-unpaid"):
            body = webhook_body("flutterwave", reference, 500_000, "NGN")
            envelope = published("flutterwave", body, HASH_ONLY)
            assert envelope.verified_scheme == "verif-hash"
            records.append((reference.encode(), envelope.to_bytes()))
        produce_records(tuned.kafka_bootstrap, main_topic(tuned.topic_prefix), records)
        with worker(tuned):
            eventually(lambda: credits_of(session_factory, "flw-paid") == 1)
            dead = read_committed(tuned.kafka_bootstrap, dlq_topic(tuned.topic_prefix), expect=1)

    # Then the paid one is credited once; the unpaid one walked the retries and was
    # dead-lettered as not confirmed, never credited
    assert credits_of(session_factory, "flw-paid") == 1
    assert credits_of(session_factory, "flw-unpaid") == 0
    assert [record.key() for record in dead] == [b"flw-unpaid"]
    assert header(dead[0], h.ERROR_CLASS) == "NotConfirmedYet"


def test_an_unreachable_verify_api_is_a_retry_never_a_credit(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    tuned = adversarial_settings(settings)  # the verify API points where nothing listens
    given_payment(session_factory, "flw-down", provider="flutterwave")
    body = webhook_body("flutterwave", "flw-down", 500_000, "NGN")
    produce_records(
        tuned.kafka_bootstrap,
        main_topic(tuned.topic_prefix),
        [(b"flw-down", published("flutterwave", body, HASH_ONLY).to_bytes())],
    )
    with worker(tuned):
        dead = read_committed(tuned.kafka_bootstrap, dlq_topic(tuned.topic_prefix), expect=1)
    assert header(dead[0], h.ERROR_CLASS) == "ConfirmationUnavailable"
    assert header(dead[0], h.ATTEMPT) == str(len(tuned.retry_delays) + 1)  # retried, then DLQ
    assert credits_of(session_factory, "flw-down") == 0


def test_hash_only_flutterwave_without_confirmation_refuses_to_start(
    env_for: dict[str, str],
) -> None:
    env = {
        **env_for,
        "PAYHOOKS_FLUTTERWAVE_SECRET_HASH": SECRETS["flutterwave"],
        "PAYHOOKS_CONFIRM_WITH_PROVIDER": "none",
    }
    for command in ("consumer", "gateway"):
        done = subprocess.run(
            [sys.executable, "-m", "payhooks", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "PAYHOOKS_CONFIRM_WITH_PROVIDER" in lines[0]
        assert SECRETS["flutterwave"] not in done.stderr
