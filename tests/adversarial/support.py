"""What the adversarial tests share: a worker in a thread on the real stack, payments, webhooks
as the gateway publishes them, and reads of what the consumer left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consumer.bootstrap import CreditApp, bootstrap
from consumer.entrypoints.worker import run
from consumer.settings import ConsumerSettings
from kernel.db.tables import LedgerTransaction, ProcessedEvent
from kernel.settings import Settings
from kernel.topics import ensure_topics
from payments_api.adapters.payment_rows import create_payment
from producer_gateway.domain.intake import verify_and_normalize
from schemas.envelope import WebhookEnvelope
from schemas.providers import SCHEMES
from tests.gateway_support import SECRETS, with_providers
from tests.helpers import narrowed

DELAYS = (0.2, 0.3)
DEAD_API = "http://127.0.0.1:9/nothing-listens-here"  # never the real providers from a test


def adversarial_settings(settings: Settings, **overrides: object) -> Settings:
    """Every provider on, short retry delays, provider APIs that never reach the internet."""
    values: dict[str, Any] = {
        "retry_delays": DELAYS,
        "consumer_inprocess_attempts": 1,
        "consumer_batch_size": 50,
        **{f"{p}_api_base": DEAD_API for p in SECRETS},
    }
    tuned = with_providers(settings, **(values | overrides))
    ensure_topics(tuned)
    return tuned


@contextmanager
def worker(settings: Settings) -> Iterator[CreditApp]:
    """A consumer group member in a thread; asserts at the end that it was still running."""
    app = bootstrap(narrowed(settings, ConsumerSettings))
    stop = threading.Event()
    crashed: list[BaseException] = []

    def loop() -> None:
        try:
            run(app, stop)
        except BaseException as exc:  # recorded: the test fails if the loop ever exits on its own
            crashed.append(exc)
            raise

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield app
        assert not crashed, f"the consumer loop exited: {crashed!r}"
        assert thread.is_alive(), "the consumer loop exited"
    finally:
        stop.set()
        thread.join(60)
        app.close()


def given_payment(
    factory: sessionmaker[Session],
    reference: str,
    *,
    provider: str = "paystack",
    amount: int = 500_000,
    currency: str = "NGN",
) -> None:
    with factory() as session:
        create_payment(
            session,
            reference=reference,
            user_id=f"user-{reference}",
            amount=amount,
            currency=currency,
            provider=provider,
        )
        session.commit()


def published(
    provider: str, body: bytes, headers: Mapping[str, str], secret: str | None = None
) -> WebhookEnvelope:
    """The envelope the gateway publishes for this request (its own verify-and-normalize)."""
    return verify_and_normalize(
        SCHEMES[provider],
        body,
        headers,
        [(secret or SECRETS[provider]).encode()],
        now=time.time(),
        tolerance_seconds=300,
        received_at=datetime.now(UTC),
    )


def signed(provider: str, body: bytes) -> dict[str, str]:
    return SCHEMES[provider].sign(
        body, SECRETS[provider].encode(), now=time.time(), event_id=f"msg-{time.time_ns()}"
    )


def credits_of(factory: sessionmaker[Session], reference: str) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.reference == reference)
            )
            or 0
        )


def outcome_of(factory: sessionmaker[Session], reference: str) -> str | None:
    with factory() as session:
        return session.scalar(
            select(ProcessedEvent.outcome).where(ProcessedEvent.reference == reference)
        )


def header(record: object, name: str) -> str | None:
    for key, value in record.headers() or []:  # type: ignore[attr-defined]
        if key == name:
            return bytes(value).decode()
    return None
