"""structlog set-up: one JSON object per line off a TTY, readable columns on one."""

from __future__ import annotations

import logging
import sys

import structlog

_SECRET_KEYS = frozenset(
    {
        "secret",
        "signature",
        "authorization",
        "x-paystack-signature",
        "stripe-signature",
        "verif-hash",
        "webhook-signature",
        "password",
        "card",
        "pan",
    }
)


def _redact(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    # Secrets and signatures must never reach a log line, whoever passed them in.
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "[redacted]"
    return event


def configure_logging(log_format: str = "auto", level: int = logging.INFO) -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
