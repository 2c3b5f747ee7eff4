"""The worker's one line per record: a reversal that leaves a wallet below zero is logged and
counted; a batch's lines come in record order, and in the JSON set-up the batch writer writes
exactly what structlog would."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from consumer.adapters.metrics import METRICS
from consumer.domain.records import Delivery
from consumer.entrypoints.worker import log_result, log_results
from consumer.service_layer.batch import Outcome, Result
from kernel.logs import configure_logging, info_lines


def test_a_reversal_below_zero_is_logged_and_counted() -> None:
    delivery = Delivery("p.webhooks", 0, 7, 0, b"r1", b"{}")
    before = METRICS.negative_wallets._value.get()
    with capture_logs() as logs:
        log_result(Result(delivery, Outcome.REVERSED, "evt", "r1", wallet_negative=True))
    assert METRICS.negative_wallets._value.get() == before + 1
    assert [e["event"] for e in logs] == ["reversal.wallet_negative", "credit.reversed"]


def _delivery(offset: int) -> Delivery:
    return Delivery("p.webhooks", 1, offset, 0, b"k", b"{}")


def test_a_batch_logs_one_line_per_record_in_order_and_counts_once() -> None:
    results = [
        Result(_delivery(1), Outcome.APPLIED, "evt-1", "r1"),
        Result(_delivery(2), Outcome.REVERSED, "evt-2", "r2", wallet_negative=True),
        Result(_delivery(3), Outcome.DUPLICATE, "evt-3", "r3", "already credited"),
    ]
    applied = METRICS.events.labels(Outcome.APPLIED)._value.get()
    with capture_logs() as logs:
        log_results(results)
    assert [e["event"] for e in logs] == [
        "credit.applied",
        "reversal.wallet_negative",
        "credit.reversed",
        "credit.duplicate",
    ]
    assert (logs[0]["offset"], logs[3]["offset"]) == (1, 3)  # passed; record 2's are bound
    assert logs[-1]["reason"] == "already credited"
    assert METRICS.events.labels(Outcome.APPLIED)._value.get() == applied + 1


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The process's logging set-up as it was before the test (which may configure its own)."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level, hook = root.handlers, root.level, threading.excepthook
    yield
    structlog.configure(**saved)
    root.handlers, threading.excepthook = handlers, hook
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restored_logging")
def test_the_json_batch_lines_are_the_lines_structlog_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the JSON set-up (onto the captured stderr), a context bound, a secret-named field
    configure_logging("json")
    fields = {"event_id": "evt-9", "offset": 9, "signature": "t=1,v1=abc", "reason": None}
    with structlog.contextvars.bound_contextvars(group="g1"):
        # When one line goes through structlog and the same through the batch writer
        structlog.get_logger("payhooks.consumer").info("credit.applied", **fields)
        info_lines("payhooks.consumer", [("credit.applied", fields), ("credit.ignored", {})])
    one, batched, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    # Then the batch writer ran (one timestamp for its lines), and its lines are structlog's but
    # for the time, secrets redacted in both
    assert batched["timestamp"] == second["timestamp"]
    assert one.pop("timestamp")
    assert batched.pop("timestamp")
    assert batched == one
    assert batched["signature"] == "[redacted]"
    assert batched["group"] == "g1"
    assert second["event"] == "credit.ignored"
    assert second["level"] == "info"
