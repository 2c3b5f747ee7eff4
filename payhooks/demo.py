"""`payhooks demo`: the whole pipeline on the local stack, narrated.

Brings the stack up, migrates, starts a gateway and a consumer as real processes, initializes a
few payments, sends their signed webhooks (plus a duplicate and a forged one) and shows what the
ledger ended with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from payhooks.db.engine import make_engine
from payhooks.db.migrate import upgrade
from payhooks.db.tables import LedgerTransaction, Payment, User, Wallet
from payhooks.settings import Settings
from payhooks.stack import Stack
from payhooks.topics import ensure_topics
from producer_gateway.service_layer.payments import create_payment
from schemas.providers import SCHEMES

Progress = Callable[[str], None]
DEMO_SECRET = "sk_test_payhooks_demo_secret"
DEMO_PORT = 8089


@dataclass(frozen=True)
class Sent:
    what: str
    reference: str
    status: int


def demo_environment(settings: Settings, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "PAYHOOKS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PAYHOOKS_DATABASE_URL": settings.database_url,
        "PAYHOOKS_REDIS_URL": settings.redis_url,
        "PAYHOOKS_TOPIC_PREFIX": prefix,
        "PAYHOOKS_CONSUMER_GROUP": f"{prefix}-credit",
        "PAYHOOKS_PAYSTACK_SECRET_KEY": DEMO_SECRET,
        "PAYHOOKS_LOG_FORMAT": "json",
    }


@contextmanager
def running(commands: list[list[str]], env: dict[str, str], logs: Path) -> Iterator[None]:
    """Start the processes, and stop them (SIGTERM, then SIGKILL) whatever happens."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for command in commands:
        log = (logs / f"{command[1]}.log").open("wb")
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the gateway did not become ready at {url} within {seconds:.0f} s")


def paystack_body(reference: str, amount: int, currency: str) -> bytes:
    return json.dumps(
        {
            "event": "charge.success",
            "data": {
                "id": abs(hash(reference)) % 10**9,
                "reference": reference,
                "amount": amount,
                "currency": currency,
                "status": "success",
                "paid_at": "2026-11-27T12:00:00Z",
                "customer": {"email": "ada@example.com"},
            },
        }
    ).encode()


def send(client: httpx.Client, body: bytes, secret: str) -> int:
    headers = SCHEMES["paystack"].sign(body, secret.encode(), now=time.time(), event_id="")
    response = client.post(
        "/webhooks/paystack", content=body, headers={**headers, "content-type": "application/json"}
    )
    return response.status_code


def wait_credited(session: Session, references: list[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        credited = session.scalars(
            select(Payment.reference).where(Payment.reference.in_(references), Payment.credited)
        ).all()
        if len(credited) == len(references):
            return
        session.rollback()
        time.sleep(0.3)
    raise RuntimeError("the consumer did not credit the payments within 60 s; see its log")


def run_demo(settings: Settings, progress: Progress) -> int:
    progress("1. bringing up Kafka, PostgreSQL and Redis…")
    Stack(settings).up(progress)
    upgrade(settings.database_url)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"demo-{run_id}"
    demo_settings = settings.model_copy(update={"topic_prefix": prefix})
    ensure_topics(demo_settings)
    env = demo_environment(settings, prefix)
    payhooks = [sys.executable, "-m", "payhooks"]
    engine = make_engine(settings.database_url)
    payments = [("ada", 500_000, "NGN"), ("grace", 125_050, "NGN"), ("linus", 9_999, "USD")]
    with Session(engine) as session:
        references = []
        for user, amount, currency in payments:
            reference = f"demo-{run_id}-{user}"
            create_payment(
                session,
                reference=reference,
                user_id=f"{user}-{run_id}",
                amount=amount,
                currency=currency,
                provider="paystack",
            )
            references.append(reference)
        session.commit()
    progress(f"2. initialized {len(payments)} payments; starting a gateway and a consumer…")
    sent: list[Sent] = []
    commands = [
        [*payhooks, "gateway", "--port", str(DEMO_PORT)],
        [*payhooks, "consumer"],
    ]
    with running(commands, env, settings.state_dir / "demo-logs"):
        wait_ready(f"http://127.0.0.1:{DEMO_PORT}/readyz")
        progress("3. sending signed webhooks, one duplicate and one forged…")
        with httpx.Client(base_url=f"http://127.0.0.1:{DEMO_PORT}", timeout=30) as client:
            for (_, amount, currency), reference in zip(payments, references, strict=True):
                body = paystack_body(reference, amount, currency)
                sent.append(Sent("genuine", reference, send(client, body, DEMO_SECRET)))
            first = paystack_body(references[0], payments[0][1], payments[0][2])
            sent.append(Sent("duplicate", references[0], send(client, first, DEMO_SECRET)))
            forged = paystack_body(references[1], 99_999_999, "NGN")
            sent.append(Sent("forged", references[1], send(client, forged, "not-the-secret")))
        with Session(engine) as session:
            wait_credited(session, references)
            _report(session, sent, references, progress)
    engine.dispose()
    return 0


def _report(session: Session, sent: list[Sent], references: list[str], out: Progress) -> None:
    out("\nwebhooks sent:")
    for item in sent:
        out(f"  {item.what:<10} {item.reference:<28} → HTTP {item.status}")
    out("\npayments:")
    rows = session.execute(
        select(
            Payment.reference, Payment.state, Payment.credited, Payment.amount, Payment.currency
        ).where(Payment.reference.in_(references))
    ).all()
    for row in rows:
        out(
            f"  {row.reference:<28} {row.state:<10} credited={row.credited} "
            f"{row.amount} {row.currency}"
        )
    out("\nwallets:")
    wallets = session.execute(
        select(User.external_id, Wallet.currency, Wallet.balance)
        .join(Wallet, Wallet.user_id == User.id)
        .join(Payment, Payment.wallet_id == Wallet.id)
        .where(Payment.reference.in_(references))
    ).all()
    for wallet in wallets:
        out(f"  {wallet.external_id:<20} {wallet.currency} {wallet.balance}")
    ledger = session.scalars(
        select(LedgerTransaction.reference).where(LedgerTransaction.reference.in_(references))
    ).all()
    out(
        f"\nledger rows: {len(ledger)} for {len(references)} payments "
        "(the duplicate was absorbed, the forged webhook refused with 401)"
    )
