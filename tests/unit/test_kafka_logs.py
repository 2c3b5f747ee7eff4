"""librdkafka's lines go through structlog, rate-limited per kind of line, with the client role."""

from __future__ import annotations

import logging

from structlog.testing import capture_logs

from kernel.kafka_logs import RateLimit, client_logging


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_same_line_passes_once_per_period_and_reports_what_it_held_back() -> None:
    clock = Clock()
    limit = RateLimit(30, clock)
    assert limit.admit("FAIL|connect") == 0
    assert limit.admit("FAIL|connect") is None
    assert limit.admit("FAIL|connect") is None
    assert limit.admit("other") == 0
    clock.now = 31
    assert limit.admit("FAIL|connect") == 2


def test_a_client_log_line_becomes_one_structured_event_with_its_role() -> None:
    logger = client_logging("gateway.producer")["logger"]
    line = "[thrd:127.0.0.1:{}/bootstrap]: Connect to ipv4#127.0.0.1:{} failed: refused"
    with capture_logs() as logs:
        for port in (1001, 1002, 1003):  # same line, different numbers: one kind
            logger.log(
                logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", line.format(port, port)
            )
    assert len(logs) == 1
    assert logs[0]["event"] == "kafka.client_log"
    assert logs[0]["role"] == "gateway.producer"
    assert logs[0]["facility"] == "FAIL"
    assert logs[0]["log_level"] == "error"
