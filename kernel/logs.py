"""structlog set-up: one JSON object per line off a TTY, readable columns on one.

Everything a process writes goes through it: payhooks' own events, the standard library's loggers
(uvicorn's server lines as `log.uvicorn.error`, alembic, …) through `stdlib_formatter`, librdkafka
through `kernel.kafka_logs`, and an uncaught exception in any thread as `thread.crashed` with
its traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import orjson
import structlog

_SECRET_KEYS = frozenset(
    {
        "secret",
        "signature",
        "authorization",
        "token",
        "api_tokens",
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


def _orjson_text(event: Any, **_: Any) -> str:
    """JSON via orjson (a line per webhook and per credit: the stdlib encoder was a measurable
    share of both hot paths); whatever it cannot encode is written as its str()."""
    return orjson.dumps(event, default=str).decode()


def _as_json(log_format: str) -> bool:
    return log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())


def _renderer(log_format: str) -> structlog.typing.Processor:
    if _as_json(log_format):
        return structlog.processors.JSONRenderer(serializer=_orjson_text)
    return structlog.dev.ConsoleRenderer()


def _foreign_event(
    _: object, __: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    # A standard-library line keeps its text as `message`; its event name is fixed per logger.
    record = event.get("_record")
    event["message"] = event.pop("event", "")
    event["event"] = f"log.{record.name}" if record is not None else "log.stdlib"
    return event


def stdlib_formatter(log_format: str = "auto") -> logging.Formatter:
    """Renders standard-library log records like structlog's (a `logging.config` factory)."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact,
            structlog.processors.format_exc_info,
            _renderer(log_format),
        ],
        foreign_pre_chain=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _foreign_event,
        ],
    )


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """`uvicorn.run(log_config=…)`: uvicorn's lines (every worker's too) in the same format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "payhooks": {"()": "kernel.logs.stdlib_formatter", "log_format": log_format}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "payhooks",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    structlog.get_logger("payhooks").error(
        "thread.crashed",
        thread=args.thread.name if args.thread else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def configure_logging(log_format: str = "auto", level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            _renderer(log_format),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(stdlib_formatter(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)  # libraries' info chatter stays out; payhooks uses structlog
    logging.captureWarnings(True)  # Python warnings too, as `log.py.warnings` lines
    threading.excepthook = _log_thread_crash
