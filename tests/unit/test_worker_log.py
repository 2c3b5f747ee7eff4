"""The worker's one line per record: a reversal that leaves a wallet below zero is logged and
counted."""

from __future__ import annotations

from structlog.testing import capture_logs

from consumer.adapters.metrics import METRICS
from consumer.domain.records import Delivery
from consumer.entrypoints.worker import log_result
from consumer.service_layer.batch import Outcome, Result


def test_a_reversal_below_zero_is_logged_and_counted() -> None:
    delivery = Delivery("p.webhooks", 0, 7, 0, b"r1", b"{}")
    before = METRICS.negative_wallets._value.get()
    with capture_logs() as logs:
        log_result(Result(delivery, Outcome.REVERSED, "evt", "r1", wallet_negative=True))
    assert METRICS.negative_wallets._value.get() == before + 1
    assert [e["event"] for e in logs] == ["reversal.wallet_negative", "credit.reversed"]
