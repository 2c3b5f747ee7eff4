"""The walking skeleton, end to end: signed webhook → gateway → Kafka → consumer → balance."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import LedgerTransaction, Payment, Wallet
from kernel.settings import Settings
from payhooks_devtools.localnet import free_port, wait_http_ok
from payments_api.adapters.payment_rows import create_payment
from tests.conftest import PAYSTACK_SECRET
from tests.helpers import eventually, payhooks_process, paystack_body, signed_headers

pytestmark = pytest.mark.e2e


def test_signed_webhook_is_credited_once_and_forgeries_are_refused(
    settings: Settings,
    session_factory: sessionmaker[Session],
    topics: tuple[str, ...],
    env_for: dict[str, str],
    tmp_path: Path,
) -> None:
    with session_factory() as session:
        create_payment(
            session,
            reference="thin-1",
            user_id="ada",
            amount=250_000,
            currency="NGN",
            provider="paystack",
        )
        session.commit()
    port = free_port()
    body = paystack_body("thin-1", 250_000)

    with (
        payhooks_process(["gateway", "--port", str(port)], env_for, tmp_path / "gateway.log"),
        payhooks_process(["consumer"], env_for, tmp_path / "consumer.log"),
    ):
        wait_http_ok(f"http://127.0.0.1:{port}/readyz")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            genuine = client.post(
                "/webhooks/paystack",
                content=body,
                headers=signed_headers("paystack", body, PAYSTACK_SECRET),
            )
            duplicate = client.post(
                "/webhooks/paystack",
                content=body,
                headers=signed_headers("paystack", body, PAYSTACK_SECRET),
            )
            unsigned = client.post("/webhooks/paystack", content=body)
            forged = client.post(
                "/webhooks/paystack",
                content=body,
                headers=signed_headers("paystack", body, "wrong"),
            )
            malformed_body = b'{"event": "charge.success"}'
            malformed = client.post(
                "/webhooks/paystack",
                content=malformed_body,
                headers=signed_headers("paystack", malformed_body, PAYSTACK_SECRET),
            )

        def credited() -> bool:
            with session_factory() as session:
                return bool(session.scalars(select(Payment.credited)).one())

        eventually(credited, seconds=60)

    assert genuine.status_code == 202
    assert genuine.json()["status"] == "accepted"
    assert duplicate.status_code == 202
    assert duplicate.json()["event_id"] == genuine.json()["event_id"]
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "invalid_signature")
    assert forged.status_code == 401
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "malformed_payload")
    with session_factory() as session:
        assert len(session.scalars(select(LedgerTransaction)).all()) == 1
        assert session.scalars(select(Wallet.balance)).one() == 250_000
