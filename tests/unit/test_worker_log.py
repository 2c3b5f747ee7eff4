"""The worker's one line per record: a reversal that leaves a wallet below zero is logged and
counted; a batch's lines come in record order, and in the JSON set-up the batch writer writes
exactly what structlog would."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from structlog.testing import capture_logs

from consumer.adapters.metrics import METRICS
from consumer.domain.records import Delivery
from consumer.entrypoints.worker import log_result, log_results
from consumer.service_layer.batch import Outcome, Result
from kernel.logs import (
    configure_logging,
    flush_tick_lines,
    info_line,
    info_lines,
    iso_utc,
    tick_info_line,
)


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


def _untimed(line: str) -> str:
    """The line with its timestamp's value blanked (the two writers read the clock apart)."""
    stamp = json.loads(line)["timestamp"]
    assert line.count(stamp) == 1
    return line.replace(stamp, "<time>")


@pytest.mark.usefixtures("restored_logging")
def test_the_fast_json_lines_are_byte_for_byte_the_lines_structlog_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the JSON set-up, a bound context (one key also passed as a field), a secret-named field
    configure_logging("json")
    fields = {"event_type": "charge.success", "group": "mine", "token": "sk_1", "n": 9, "x": None}
    log = structlog.get_logger("payhooks.gateway")
    with structlog.contextvars.bound_contextvars(group="g1", request="r-1"):
        # When each line is written by structlog, then by the single and the batch fast paths
        log.info("webhook.accepted", **fields)
        info_line("payhooks.gateway", "webhook.accepted", fields)
        log.info("credit.ignored")
        info_lines("payhooks.consumer", [("webhook.accepted", fields), ("credit.ignored", {})])
    by_structlog, single, by_structlog_2, batched, batched_2 = capsys.readouterr().err.splitlines()
    # Then the lines are the same text (key order, separators, redaction) but for the time
    assert _untimed(single) == _untimed(batched) == _untimed(by_structlog)
    assert _untimed(batched_2) == _untimed(by_structlog_2)
    assert '"token":"[redacted]"' in single
    assert '"group":"mine"' in single


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 28, 9, 5, 7, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 9, 5, 7, 5, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        datetime.now(UTC),
    ],
)
def test_the_fast_timestamp_is_written_as_structlog_writes_it(moment: datetime) -> None:
    # structlog's TimeStamper(fmt="iso", utc=True): now(tz=UTC).isoformat(), "+00:00" as "Z"
    assert iso_utc(moment) == moment.isoformat().replace("+00:00", "Z")


def test_outside_the_json_set_up_a_fast_line_goes_through_structlog() -> None:
    with capture_logs() as logs:
        info_line("payhooks.gateway", "webhook.accepted", {"event_id": "evt-1", "token": "t"})
    assert logs == [
        {"event": "webhook.accepted", "event_id": "evt-1", "token": "t", "log_level": "info"}
    ]


@pytest.mark.usefixtures("restored_logging")
def test_a_turns_lines_are_written_when_the_turn_ends_and_are_structlogs_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the JSON set-up and a running event loop
    configure_logging("json")
    fields = {"event_type": "charge.success", "token": "sk_1", "n": 9, "x": None}
    log = structlog.get_logger("payhooks.gateway")

    async def one_turn() -> tuple[str, str]:
        with structlog.contextvars.bound_contextvars(request="r-1"):
            log.info("webhook.accepted", **fields)
            # When two lines are written at the turn's end, a third in the next turn
            tick_info_line("payhooks.gateway", "webhook.accepted", fields)
            tick_info_line("payhooks.gateway", "webhook.accepted", {**fields, "n": 10})
        during = capsys.readouterr().err
        await asyncio.sleep(0)  # the turn ends
        tick_info_line("payhooks.gateway", "webhook.accepted", {**fields, "n": 11})
        return during, capsys.readouterr().err

    during, after = asyncio.run(one_turn())
    late = capsys.readouterr().err
    # Then nothing of the turn was written during it, all of it right after, in order, each
    # line structlog's line but for the time (one timestamp per turn); the next turn's later
    (by_structlog,) = during.splitlines()
    first, second = after.splitlines()
    assert _untimed(first) == _untimed(by_structlog)
    assert json.loads(second)["n"] == 10
    assert json.loads(first)["timestamp"] == json.loads(second)["timestamp"]
    assert '"token":"[redacted]"' in first
    assert json.loads(late)["n"] == 11


@pytest.mark.usefixtures("restored_logging")
def test_a_turns_pending_lines_are_written_by_a_flush_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the JSON set-up and a line pending in a running loop's turn
    configure_logging("json")

    async def shut_down_mid_turn() -> str:
        tick_info_line("payhooks.gateway", "webhook.accepted", {"event_id": "evt-1"})
        # When the process shuts down before the turn ends (the gateway's close, atexit)
        flush_tick_lines()
        flushed = capsys.readouterr().err
        await asyncio.sleep(0)
        return flushed

    flushed = asyncio.run(shut_down_mid_turn())
    # Then the line was written by the flush, and only once
    assert json.loads(flushed)["event_id"] == "evt-1"
    assert capsys.readouterr().err == ""


def test_outside_a_loop_or_the_json_set_up_a_turn_line_is_written_at_once() -> None:
    with capture_logs() as logs:
        tick_info_line("payhooks.gateway", "webhook.accepted", {"event_id": "evt-1"})
    assert logs == [{"event": "webhook.accepted", "event_id": "evt-1", "log_level": "info"}]


@pytest.mark.usefixtures("restored_logging")
def test_outside_a_running_loop_a_turn_line_is_written_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json")
    tick_info_line("payhooks.gateway", "webhook.accepted", {"event_id": "evt-2"})
    assert json.loads(capsys.readouterr().err)["event_id"] == "evt-2"
