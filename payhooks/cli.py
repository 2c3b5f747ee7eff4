"""`payhooks`: the one console script. Each command parses flags, builds its settings, calls one
thing: a deployable's command its own class (`GatewaySettings`, `ApiSettings`, `ConsumerSettings`),
the operations commands every setting (`Settings`).

Every flag mirrors a `PAYHOOKS_*` variable (shown in `--help`); a flag given wins over the variable.
Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from kernel.cli_options import (
    DatabaseOpt,
    KafkaOpt,
    PrefixOpt,
    RedisOpt,
    progress,
    settings_from,
    settings_of,
)
from kernel.config_checks import check_config
from kernel.settings import (
    DatabaseSettings,
    HttpListenerSettings,
    KafkaClientSettings,
    ProcessSettings,
    Settings,
    TopicSettings,
)
from schemas.errors import CommandError

app = typer.Typer(
    help="Payment-provider webhooks to exactly-once wallet credits, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# Every process's metrics (and the consumer's probe) listener; each has its own --metrics-port.
MetricsHostOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics-host",
        envvar="PAYHOOKS_METRICS_HOST",
        help="Host of the metrics listener: 0.0.0.0 in a container (default 127.0.0.1).",
    ),
]

DEV_COMMANDS = ("stack", "simulator", "demo", "chaos", "bench")
DEV_HINT = "install the dev tooling: `pip install -e ./devtools` (what `make setup` does)"


def _add_dev_commands() -> None:
    """The dev tooling's commands when payhooks-devtools is installed; else each one says, in one
    line, how to get it (the runtime image has none of them)."""
    try:
        from payhooks_devtools.cli import register
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "payhooks_devtools":
            raise  # the dev tooling is there but one of its own imports failed
        for name in DEV_COMMANDS:
            _add_missing(name)
    else:
        register(app)


def _add_missing(name: str) -> None:
    def missing(_args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None) -> None:
        typer.echo(f"error: `payhooks {name}` is dev tooling; {DEV_HINT}", err=True)
        raise typer.Exit(1)

    app.command(
        name,
        help=f"(not installed: {DEV_HINT})",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(missing)


# --- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOpt = None) -> None:
    """Apply the migrations up to the newest."""
    from kernel.db.migrate import upgrade

    settings = settings_of(DatabaseSettings, database_url=database_url)
    upgrade(settings.database_url)
    typer.echo("database schema is up to date")


# --- processes ---------------------------------------------------------------------------------


@app.command()
def gateway(
    *,
    host: Annotated[str, typer.Option(envvar="PAYHOOKS_GATEWAY_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PAYHOOKS_GATEWAY_PORT")] = 8080,
    workers: Annotated[int, typer.Option(envvar="PAYHOOKS_GATEWAY_WORKERS")] = 1,
    kafka_bootstrap: KafkaOpt = None,
    topic_prefix: PrefixOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="PAYHOOKS_GATEWAY_METRICS_PORT",
            help="Serve Prometheus metrics on this port, its own listener (off if unset).",
        ),
    ] = None,
    metrics_host: MetricsHostOpt = None,
) -> None:
    """Serve the public HTTP gateway: webhooks and health only, no database. It starts even when
    Kafka does not answer: /healthz 200, /readyz and webhooks 503 + Retry-After until it is back."""
    from kernel.logs import configure_logging
    from producer_gateway.settings import GatewaySettings

    _export(
        {
            "KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TOPIC_PREFIX": topic_prefix,
            "GATEWAY_METRICS_PORT": None if metrics_port is None else str(metrics_port),
            "METRICS_HOST": metrics_host,
        }
    )
    settings = settings_of(GatewaySettings)
    configure_logging(settings.log_format)
    check_config(settings)
    _refused_by_kafka(settings, "gateway")
    if settings.create_topics:  # else /readyz answers 503 while the topics are missing
        _topics_if_kafka_answers(settings)
    _serve_http(
        "producer_gateway.entrypoints.asgi:create_app",
        settings,
        host=host,
        port=port,
        workers=workers,
        metrics=(settings.metrics_host, settings.gateway_metrics_port),
    )


@app.command()
def api(
    *,
    host: Annotated[str, typer.Option(envvar="PAYHOOKS_API_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PAYHOOKS_API_PORT")] = 8081,
    workers: Annotated[int, typer.Option(envvar="PAYHOOKS_API_WORKERS")] = 1,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="PAYHOOKS_API_METRICS_PORT",
            help="Serve Prometheus metrics on this port, its own listener (off if unset).",
        ),
    ] = None,
    metrics_host: MetricsHostOpt = None,
) -> None:
    """Serve the internal API (payments, wallets) to the clients of PAYHOOKS_API_TOKENS.

    It also deletes idempotency keys past their TTL, every PAYHOOKS_API_PRUNE_EVERY_SECONDS.
    """
    from kernel.logs import configure_logging
    from payments_api.domain.clients import ApiClients
    from payments_api.settings import ApiSettings

    _export(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "API_METRICS_PORT": None if metrics_port is None else str(metrics_port),
            "METRICS_HOST": metrics_host,
        }
    )
    settings = settings_of(ApiSettings)
    configure_logging(settings.log_format)
    # Checked here too, so a bad PAYHOOKS_API_TOKENS is one line and exit 1, not a worker crash.
    ApiClients.parse(token.get_secret_value() for token in settings.api_tokens)
    _serve_http(
        "payments_api.entrypoints.asgi:create_app",
        settings,
        host=host,
        port=port,
        workers=workers,
        metrics=(settings.metrics_host, settings.api_metrics_port),
    )


def _export(values: dict[str, str | None]) -> None:
    """uvicorn workers are fresh processes: they read their settings from the environment."""
    import os

    for name, value in values.items():
        if value is not None:
            os.environ[f"PAYHOOKS_{name}"] = value


def _serve_http(
    factory: str,
    settings: HttpListenerSettings,
    *,
    host: str,
    port: int,
    workers: int,
    metrics: tuple[str, int | None],
) -> None:
    import uvicorn

    from kernel.logs import uvicorn_log_config
    from kernel.metrics_listener import serve_metrics, use_multiprocess_dir

    # One worker serves its own metrics (create_app); several add up theirs on one listener here.
    if workers > 1:
        use_multiprocess_dir()
        metrics_host, metrics_port = metrics
        if metrics_port is not None:
            serve_metrics(metrics_host, metrics_port)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(settings.log_format),
        access_log=False,
        # The listener's limits (docs/security.md): httptools with a cap on the request head
        # (kernel/http_listener.py, 431), uvicorn answers 503 over the concurrency limit.
        http="kernel.http_listener:CappedHttpToolsProtocol",
        h11_max_incomplete_event_size=settings.gateway_max_header_bytes,  # = its head cap
        limit_concurrency=settings.gateway_limit_concurrency,
        timeout_keep_alive=5,
        # Nothing reads a request's client address or scheme (no route, log line or limit does),
        # so uvicorn's X-Forwarded-* middleware would only cost each request (~1.5-3 µs).
        proxy_headers=False,
        # No `server: uvicorn` header: it tells a prober the server software, and uvicorn checks
        # each response header against two regexes (one header fewer per response).
        server_header=False,
    )


@app.command()
def consumer(
    *,
    group: Annotated[str | None, typer.Option(envvar="PAYHOOKS_CONSUMER_GROUP")] = None,
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    topic_prefix: PrefixOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="PAYHOOKS_CONSUMER_METRICS_PORT",
            help="Serve /healthz, /readyz and Prometheus /metrics on this port (off if unset).",
        ),
    ] = None,
    metrics_host: MetricsHostOpt = None,
) -> None:
    """Run one member of the credit consumer group (start more processes to scale out)."""
    from consumer.entrypoints.run import run_consumer
    from consumer.settings import ConsumerSettings

    run_consumer(
        settings_of(
            ConsumerSettings,
            consumer_group=group,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            redis_url=redis_url,
            topic_prefix=topic_prefix,
            consumer_metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
    )


def _require_kafka(settings: KafkaClientSettings, role: str) -> None:
    """Kafka answers and accepts our credentials, or one line and exit ≠ 0."""
    from kernel.kafka_client import check_connection

    check_connection(settings, role)


def _refused_by_kafka(settings: KafkaClientSettings, role: str) -> None:
    """Refused credentials / TLS end the process with one line; a Kafka that is merely down
    does not (the gateway serves 503s, the consumer retries)."""
    from kernel.kafka_client import check_connection

    check_connection(settings, role, timeout=5.0, refusal_only=True)


def _topics_if_kafka_answers(settings: TopicSettings) -> None:
    """The gateway does not wait for Kafka: it serves 503s until Kafka and the topics are there."""
    import structlog
    from confluent_kafka import KafkaException

    from kernel.topics import ensure_topics

    try:
        ensure_topics(settings, timeout=5.0)
    except KafkaException as exc:
        structlog.get_logger("payhooks.gateway").warning(
            "gateway.kafka_unavailable", detail=str(exc), action="serving 503 until Kafka answers"
        )


# --- topics ------------------------------------------------------------------------------------

topics_app = typer.Typer(
    help="payhooks' topics with the configured partitions, replication, min ISR, retention.",
    no_args_is_help=True,
)
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def topics_create(kafka_bootstrap: KafkaOpt = None, topic_prefix: PrefixOpt = None) -> None:
    """Create the missing topics (PAYHOOKS_TOPIC_REPLICATION_FACTOR, _MIN_INSYNC_REPLICAS,
    PAYHOOKS_TOPIC_PARTITIONS, PAYHOOKS_DLQ_RETENTION); existing ones are left as they are."""
    from kernel.topics import ensure_topics

    settings = _ops_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    _require_kafka(settings, "topics")
    for name in ensure_topics(settings):
        typer.echo(name)


@topics_app.command("check")
def topics_check(kafka_bootstrap: KafkaOpt = None, topic_prefix: PrefixOpt = None) -> None:
    """Compare the topics with the configuration; exit 1 naming every difference."""
    from kernel.topics import check_topics

    settings = _ops_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    _require_kafka(settings, "topics")
    problems = check_topics(settings)
    for line in problems:
        typer.echo(line)
    if problems:
        raise typer.Exit(1)
    typer.echo("topics as configured")


# --- dlq ---------------------------------------------------------------------------------------

dlq_app = typer.Typer(
    help="Dead letters: list them, show one, replay them into retry topic 1.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")

RefFilter = Annotated[str | None, typer.Option("--reference", help="Only this payment reference.")]
ProviderFilter = Annotated[
    str | None, typer.Option("--provider", help="Only this provider (paystack, stripe, …).")
]
ErrorFilter = Annotated[
    str | None,
    typer.Option("--error", help="Only errors whose class or message contains this (any case)."),
]
SinceFilter = Annotated[
    str | None,
    typer.Option("--since", help="Dead-lettered at/after: ISO time or an age like 30m, 2h, 3d."),
]
UntilFilter = Annotated[
    str | None,
    typer.Option("--until", help="Dead-lettered at/before: ISO time or an age like 30m, 2h, 3d."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _filters(
    reference: str | None,
    provider: str | None,
    error: str | None,
    since: str | None,
    until: str | None,
) -> Any:
    from datetime import UTC, datetime

    from operations.dlq.dead_letters import Filters, parse_moment

    now = datetime.now(UTC)
    return Filters(
        reference=reference,
        provider=provider,
        error=error,
        since=parse_moment(since, now) if since else None,
        until=parse_moment(until, now) if until else None,
    )


def _ops_settings(**overrides: Any) -> Settings:
    from kernel.logs import configure_logging

    settings = settings_from(**overrides)
    configure_logging(settings.log_format)
    return settings


def _echo_json(document: Any) -> None:
    import json

    typer.echo(json.dumps(document, indent=2, default=str))


@dlq_app.command("list")
def dlq_list(
    *,
    reference: RefFilter = None,
    provider: ProviderFilter = None,
    error: ErrorFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    as_json: JsonOpt = False,
    kafka_bootstrap: KafkaOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Dead letters, oldest first (reads the DLQ topic; moves no consumer offsets)."""
    from datetime import UTC, datetime

    from operations.dlq.bootstrap import current_actor, dlq_reader
    from operations.dlq.dead_letters import list_row, render_table
    from operations.dlq.service import list_dead_letters

    settings = _ops_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    filters = _filters(reference, provider, error, since, until)
    letters = list_dead_letters(dlq_reader(settings), filters, current_actor())
    now = datetime.now(UTC)
    if as_json:
        _echo_json([list_row(letter, now) for letter in letters])
    else:
        typer.echo(render_table(letters, now))


@dlq_app.command("show")
def dlq_show(
    position: Annotated[str, typer.Argument(help="partition:offset, as `dlq list` shows it.")],
    as_json: JsonOpt = False,
    kafka_bootstrap: KafkaOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """One dead letter in full: error, headers, envelope and the decoded raw body."""
    from datetime import UTC, datetime

    from operations.dlq.bootstrap import current_actor, dlq_reader
    from operations.dlq.dead_letters import detail, parse_position, render_detail
    from operations.dlq.service import show_dead_letter

    settings = _ops_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    letter = show_dead_letter(dlq_reader(settings), parse_position(position), current_actor())
    now = datetime.now(UTC)
    if as_json:
        _echo_json(detail(letter, now))
    else:
        typer.echo(render_detail(letter, now))


@dlq_app.command("replay")
def dlq_replay(
    *,
    positions: Annotated[
        list[str] | None, typer.Argument(help="partition:offset positions to replay.")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    reference: RefFilter = None,
    provider: ProviderFilter = None,
    error: ErrorFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")
    ] = False,
    as_json: JsonOpt = False,
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Re-verify and republish dead letters to retry topic 1, once each (exit 1 if any refused).

    Provider secrets come from PAYHOOKS_<PROVIDER>_… variables, as for the consumer.
    """
    from operations.dlq.bootstrap import current_actor, ops_engine, replay_ports
    from operations.dlq.dead_letters import parse_position
    from operations.dlq.service import Selection, replay_dead_letters

    settings = _ops_settings(
        kafka_bootstrap=kafka_bootstrap, database_url=database_url, topic_prefix=topic_prefix
    )
    selection = Selection(
        positions=tuple(parse_position(p) for p in positions or ()),
        filters=_filters(reference, provider, error, since, until),
        everything=replay_all,
    )
    engine = ops_engine(settings)
    try:
        decisions, summary = replay_dead_letters(
            replay_ports(settings, engine),
            selection,
            actor=current_actor(),
            dry_run=dry_run,
            progress=progress,
        )
    finally:
        engine.dispose()
    _print_replay(decisions, summary, dry_run=dry_run, as_json=as_json)
    if summary.refused:
        raise typer.Exit(1)


def _print_replay(decisions: Any, summary: Any, *, dry_run: bool, as_json: bool) -> None:
    from operations.dlq.dead_letters import format_position, render_plan

    if as_json:
        _echo_json(
            {
                "dry_run": dry_run,
                "records": [
                    {
                        "position": format_position(d.letter.position),
                        "reference": d.letter.reference,
                        "verdict": d.verdict.value,
                        "reason": d.reason or None,
                    }
                    for d in decisions
                ],
                "summary": summary.as_dict(),
            }
        )
        return
    for line in render_plan(decisions, dry_run=dry_run):
        typer.echo(line)
    verb = "would replay" if dry_run else "replayed"
    typer.echo(
        f"{'dry run: ' if dry_run else ''}{verb} {summary.replayed}, "
        f"skipped {summary.already_replayed} already replayed, refused {summary.refused}"
    )


# --- sweep and reconcile -----------------------------------------------------------------------


@app.command()
def sweep(
    *,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            envvar="PAYHOOKS_SWEEP_OLDER_THAN",
            help="Ask about payments processing for longer than this (e.g. 15m).",
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (cron).")] = False,
    period: Annotated[
        str | None,
        typer.Option("--period", envvar="PAYHOOKS_SWEEP_PERIOD", help="Between passes (1m)."),
    ] = None,
    expire_after: Annotated[
        str | None,
        typer.Option(
            "--expire-after",
            envvar="PAYHOOKS_SWEEP_EXPIRE_AFTER",
            help="Still unpaid this long after creation: failed (24h).",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="PAYHOOKS_SWEEP_METRICS_PORT",
            help="Serve Prometheus /metrics on this port (off if unset).",
        ),
    ] = None,
    metrics_host: MetricsHostOpt = None,
    database_url: DatabaseOpt = None,
    kafka_bootstrap: KafkaOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Settle payments whose webhook never came: ask each provider's verify API; paid ones go
    through the same Kafka path as webhooks, expired ones are failed (docs/lifecycle.md)."""
    import signal
    import threading

    from kernel.db.engine import make_engine
    from kernel.logs import configure_logging
    from operations.settings import SweepSettings
    from operations.sweep import build_sweeper

    settings = settings_of(
        SweepSettings,
        sweep_older_than=older_than,
        sweep_period=period,
        sweep_expire_after=expire_after,
        sweep_metrics_port=metrics_port,
        metrics_host=metrics_host,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
    )
    configure_logging(settings.log_format)
    if settings.sweep_metrics_port is not None:
        from prometheus_client import REGISTRY

        from kernel.metrics_listener import serve_metrics

        serve_metrics(settings.metrics_host, settings.sweep_metrics_port, REGISTRY)
    engine = make_engine(settings.database_url, pool_size=1)
    sweeper, close = build_sweeper(settings, engine)
    try:
        if once:
            sweeper.sweep_once()
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        sweeper.run(stop, settings.sweep_period)
    finally:
        close()
        engine.dispose()


@app.command()
def reconcile(
    as_json: JsonOpt = False,
    database_url: DatabaseOpt = None,
    stuck_after: Annotated[
        int | None,
        typer.Option(
            "--stuck-after",
            envvar="PAYHOOKS_STUCK_PROCESSING_SECONDS",
            help="Seconds in `processing` before a payment counts as stuck.",
        ),
    ] = None,
) -> None:
    """Check the ledger's invariants. Exit 0 clean, 1 on violations, 2 if it could not check."""
    from kernel.db.engine import make_engine
    from operations.reconcile import reconcile as check
    from operations.reconcile import render_report, report_json

    settings = settings_from(database_url=database_url, stuck_processing_seconds=stuck_after)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        report = check(engine, stuck_after_seconds=settings.stuck_processing_seconds)
    finally:
        engine.dispose()
    typer.echo(_json_text(report_json(report)) if as_json else render_report(report))
    if not report.ok:
        raise typer.Exit(1)


def _json_text(document: Any) -> str:
    import json

    return json.dumps(document, indent=2)


# --- the one way errors leave the CLI ---------------------------------------------------------


# Long-running processes: their stderr is a log stream, so a crash is a JSON line with its
# traceback. Every other command is for a person: one line, no traceback.
SERVER_COMMANDS = frozenset({"gateway", "consumer", "api", "sweep"})


def main() -> None:
    _add_dev_commands()
    try:
        app()
    except CommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - a user sees one line, never a traceback
        if _running_a_server():
            _log_crash(exc)
        else:
            typer.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(1)


def _running_a_server() -> bool:
    return len(sys.argv) > 1 and sys.argv[1] in SERVER_COMMANDS


def _log_crash(exc: BaseException) -> None:
    import structlog

    if not structlog.is_configured():
        from kernel.logs import configure_logging

        try:
            log_format = ProcessSettings().log_format
        except ValueError:  # the settings themselves may be what crashed
            log_format = "auto"
        configure_logging(log_format)
    structlog.get_logger("payhooks").critical(
        "process.crashed", command=sys.argv[1], error=one_line(exc), exc_info=exc
    )


def one_line(exc: BaseException) -> str:
    """The first line of what went wrong, naming the server to check when one did not answer."""
    from sqlalchemy.exc import OperationalError

    cause = exc.orig if isinstance(exc, OperationalError) else exc
    first = (str(cause).strip().splitlines() or [""])[0]
    if isinstance(exc, OperationalError):
        return f"PostgreSQL: {first}; check `payhooks stack status` or --database-url"
    return f"{type(exc).__name__}: {first}"
