"""librdkafka's own log lines and errors, routed through structlog (one JSON stream per process).

Without this, librdkafka prints `%3|…|FAIL|…` lines to stderr, one per reconnect attempt. Each
client gets a `logger` (confluent-kafka forwards librdkafka's log lines to it, served by the
client's poll) and an `error_cb`; both emit `kafka.client_log` / `kafka.client_error` with the
client's role, and the same line is let through at most once per `every_seconds` (the number
held back is reported on the next one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import KafkaError

log = structlog.get_logger("payhooks.kafka")


class RateLimit:
    """Lets a key through once per `every_seconds`; counts what it held back meanwhile."""

    def __init__(self, every_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> int | None:
        """None if `key` was let through too recently; else how many were held back before it."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every_seconds:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)


def _shape(message: str) -> str:
    """What makes two librdkafka lines "the same": the text without digits (ports, ms, ids)."""
    return "".join(ch for ch in message if not ch.isdigit())[:200]


class _ToStructlog(logging.Handler):
    def __init__(self, role: str, limit: RateLimit) -> None:
        super().__init__()
        self.role = role
        self.limit = limit

    def emit(self, record: logging.LogRecord) -> None:
        # confluent-kafka logs ("%s [%s] %s", facility, client name, message)
        args = record.args if isinstance(record.args, tuple) and len(record.args) == 3 else None
        facility, client, text = (str(a) for a in args) if args else ("", "", record.getMessage())
        held = self.limit.admit(f"{facility}|{_shape(text)}")
        if held is None:
            return
        extra = {"suppressed": held} if held else {}
        log.log(
            record.levelno,
            "kafka.client_log",
            role=self.role,
            client=client,
            facility=facility,
            message=text,
            **extra,
        )


def client_logging(role: str, *, every_seconds: float = 30.0) -> dict[str, Any]:
    """Config entries for one Kafka client: its log lines and errors go through structlog."""
    limit = RateLimit(every_seconds)
    logger = logging.Logger(f"payhooks.kafka.{role}", level=logging.DEBUG)
    logger.propagate = False
    logger.addHandler(_ToStructlog(role, limit))

    def on_error(error: KafkaError) -> None:
        held = limit.admit(f"error|{error.code()}")
        if held is None:
            return
        extra = {"suppressed": held} if held else {}
        log.log(
            logging.ERROR if error.fatal() else logging.WARNING,
            "kafka.client_error",
            role=role,
            code=error.name(),
            error=error.str(),
            fatal=error.fatal(),
            **extra,
        )

    return {"logger": logger, "error_cb": on_error}
