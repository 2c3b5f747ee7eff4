"""structlog set-up: one JSON object per line off a TTY, readable columns on one.

Everything a process writes goes through it: payhooks' own events, the standard library's loggers
(uvicorn's server lines as `log.uvicorn.error`, alembic, …) through `stdlib_formatter`, librdkafka
through `kernel.kafka_logs`, and an uncaught exception in any thread as `thread.crashed` with
its traceback.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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


@dataclass(frozen=True)
class _JsonLines:
    """What `info_lines` needs to write the lines `configure_logging`'s JSON set-up would."""

    processors: list[structlog.typing.Processor]  # the configured chain, to know it is in force
    out: structlog.PrintLogger  # the same stream and write lock as every other line
    level: int


_json_lines: _JsonLines | None = None


def iso_utc(moment: datetime) -> str:
    """`moment` as structlog's `TimeStamper(fmt="iso", utc=True)` writes it
    (`isoformat()` with `Z` for `+00:00`), by orjson: ~1 µs instead of ~4."""
    return orjson.dumps(moment, option=orjson.OPT_UTC_Z)[1:-1].decode()


def _json_line(
    event: str, fields: Mapping[str, Any], context: Mapping[str, Any], timestamp: str
) -> str:
    """The line structlog's JSON chain writes for `log.info(event, **fields)`: the same keys,
    set in the same order (the fields, the event, the bound context where not given, level,
    timestamp), secrets redacted, the same renderer."""
    line = dict(fields)
    line["event"] = event
    for key, value in context.items():
        line.setdefault(key, value)
    line["level"] = "info"
    line["timestamp"] = timestamp
    return _orjson_text(_redact(None, "info", line))


def _fast() -> _JsonLines | None:
    """The JSON set-up's writer when it is the one in force (not the console, not a test's
    `capture_logs`), else None: those lines go through structlog as usual."""
    fast = _json_lines
    if fast is None or structlog.get_config()["processors"] is not fast.processors:
        return None
    return fast


def info_line(logger_name: str, event: str, fields: Mapping[str, Any]) -> None:
    """One info line, byte for byte what `structlog.get_logger(logger_name).info(event,
    **fields)` writes, without the processor chain (e.g. the gateway's line per webhook)."""
    fast = _fast()
    if fast is None:
        structlog.get_logger(logger_name).info(event, **fields)
        return
    if fast.level > logging.INFO:
        return
    context = structlog.contextvars.get_contextvars()
    fast.out.msg(_json_line(event, fields, context, iso_utc(datetime.now(UTC))))


class _TickLines(threading.local):
    """The lines `tick_info_line` rendered during the current turn of this thread's event loop,
    written together when the turn ends (one lock, one write and one flush for all of them)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.timestamp = ""  # the turn's one timestamp, read at its first line
        self.out: structlog.PrintLogger | None = None


_tick = _TickLines()


def tick_info_line(logger_name: str, event: str, fields: Mapping[str, Any]) -> None:
    """`info_line`, written at the end of the event loop's current turn together with every
    other line of that turn (the gateway's line per webhook: under load a turn resumes the many
    requests one batch of Kafka delivery reports settled). Each line is whole and the bytes are
    `info_line`'s (one timestamp per turn, as `info_lines` has one per batch); a turn lasts
    microseconds to a few milliseconds. Outside a running loop, or outside the JSON set-up, it
    is `info_line`. `flush_tick_lines` writes what is pending (shutdown, `atexit`)."""
    tick = _tick
    if not tick.lines and not _start_turn(tick, logger_name, event, fields):
        return
    # (a turn's first line found the JSON set-up in force, its later lines need not check)
    context = structlog.contextvars.get_contextvars()
    tick.lines.append(_json_line(event, fields, context, tick.timestamp))


def _start_turn(tick: _TickLines, logger_name: str, event: str, fields: Mapping[str, Any]) -> bool:
    """True when this turn's lines are to be held (JSON set-up, a running loop: its flush is
    scheduled); otherwise the line is written or dropped here, as `info_line` would."""
    fast = _fast()
    if fast is None or fast.level > logging.INFO:
        info_line(logger_name, event, fields)
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        info_line(logger_name, event, fields)
        return False
    loop.call_soon(flush_tick_lines)
    tick.timestamp, tick.out = iso_utc(datetime.now(UTC)), fast.out
    return True


def flush_tick_lines() -> None:
    """Write the lines `tick_info_line` holds for this thread's current loop turn, if any."""
    tick = _tick
    lines, out = tick.lines, tick.out
    if lines and out is not None:
        tick.lines = []
        out.msg("\n".join(lines))


def info_lines(logger_name: str, lines: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Many info lines (event name, fields) at once, e.g. one per record of a batch. In the JSON
    set-up: exactly the lines structlog would write (bound context, the fields, level,
    timestamp, secrets redacted), with one timestamp and one write for all of them instead of
    the processor chain and a flushed write per line. Anywhere else (console, a test's
    `capture_logs`) each goes through structlog as usual."""
    fast = _fast()
    if fast is None:
        log = structlog.get_logger(logger_name)
        for event, fields in lines:
            log.info(event, **fields)
        return
    if not lines or fast.level > logging.INFO:
        return
    timestamp = iso_utc(datetime.now(UTC))
    context = structlog.contextvars.get_contextvars()
    fast.out.msg("\n".join(_json_line(event, f, context, timestamp) for event, f in lines))


def configure_logging(log_format: str = "auto", level: int = logging.INFO) -> None:
    global _json_lines  # noqa: PLW0603 - the process's one logging set-up, like structlog's own
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        _renderer(log_format),
    ]
    _json_lines = (
        _JsonLines(processors, structlog.PrintLogger(sys.stderr), level)
        if _as_json(log_format)
        else None
    )
    structlog.configure(
        processors=processors,
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
    atexit.unregister(flush_tick_lines)  # registered once however often this runs
    atexit.register(flush_tick_lines)
