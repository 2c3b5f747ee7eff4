"""`payhooks`: the one console script. Each command parses flags, builds Settings, calls one thing.

Every flag mirrors a `PAYHOOKS_*` variable (shown in `--help`); a flag given wins over the variable.
Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from payhooks.settings import Settings

app = typer.Typer(
    help="Payment-provider webhooks to exactly-once wallet credits, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stack_app = typer.Typer(help="The local Kafka (KRaft), PostgreSQL and Redis.", no_args_is_help=True)
db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")

KafkaOpt = Annotated[
    str | None,
    typer.Option("--kafka-bootstrap", envvar="PAYHOOKS_KAFKA_BOOTSTRAP", help="Kafka servers."),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", envvar="PAYHOOKS_DATABASE_URL", help="PostgreSQL URL."),
]
RedisOpt = Annotated[
    str | None, typer.Option("--redis-url", envvar="PAYHOOKS_REDIS_URL", help="Redis URL.")
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--topic-prefix", envvar="PAYHOOKS_TOPIC_PREFIX", help="Prefix of every topic."),
]
StateOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="PAYHOOKS_STATE_DIR", help="Where the local stack lives."),
]


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def progress(message: str) -> None:
    typer.echo(message, err=True)


# --- stack -------------------------------------------------------------------------------------


@stack_app.command("up")
def stack_up(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Start whatever is not already answering; reuse what is."""
    from payhooks.stack import Stack

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        state_dir=state_dir,
    )
    _print_status(Stack(settings).up(progress))


@stack_app.command("down")
def stack_down(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Stop what `stack up` started, and nothing else."""
    from payhooks.stack import Stack

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        state_dir=state_dir,
    )
    stopped = Stack(settings).down(progress)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@stack_app.command("status")
def stack_status(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Each server, its address, and whether it answers. Exit 1 if any does not."""
    from payhooks.stack import Stack

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        state_dir=state_dir,
    )
    statuses = Stack(settings).status()
    _print_status(statuses)
    if not all(s.answers for s in statuses):
        raise typer.Exit(1)


@stack_app.command("env")
def stack_env(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Print `export PAYHOOKS_…=…` lines for the stack (eval "$(payhooks stack env)")."""
    from payhooks.stack import Stack

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        topic_prefix=topic_prefix,
    )
    typer.echo("\n".join(Stack(settings).env_lines()))


def _print_status(statuses: list[Any]) -> None:
    for status in statuses:
        state = "up" if status.answers else "DOWN"
        owner = "started by payhooks" if status.started_by_payhooks else "external"
        typer.echo(f"{status.name:<9} {status.address:<22} {state:<5} {owner}")


# --- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOpt = None) -> None:
    """Apply the migrations up to the newest."""
    from payhooks.db.migrate import upgrade

    settings = settings_from(database_url=database_url)
    upgrade(settings.database_url)
    typer.echo("database schema is up to date")


# --- processes ---------------------------------------------------------------------------------


@app.command()
def gateway(
    host: Annotated[str, typer.Option(envvar="PAYHOOKS_GATEWAY_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PAYHOOKS_GATEWAY_PORT")] = 8080,
    workers: Annotated[int, typer.Option(envvar="PAYHOOKS_GATEWAY_WORKERS")] = 1,
    kafka_bootstrap: KafkaOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Serve the HTTP gateway (webhooks in, Kafka out)."""
    import os

    import uvicorn

    # uvicorn workers are fresh processes: they read their settings from the environment.
    for name, value in (("KAFKA_BOOTSTRAP", kafka_bootstrap), ("TOPIC_PREFIX", topic_prefix)):
        if value is not None:
            os.environ[f"PAYHOOKS_{name}"] = value
    settings = settings_from()
    _require_topics(settings)
    uvicorn.run(
        "producer_gateway.bootstrap:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
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
            help="Serve Prometheus metrics on this port (off if unset).",
        ),
    ] = None,
) -> None:
    """Run one member of the credit consumer group (start more processes to scale out)."""
    from consumer.bootstrap import bootstrap
    from consumer.entrypoints.worker import main as run_worker
    from payhooks.logs import configure_logging

    settings = settings_from(
        consumer_group=group,
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        topic_prefix=topic_prefix,
        consumer_metrics_port=metrics_port,
    )
    configure_logging(settings.log_format)
    _require_topics(settings)
    if settings.consumer_metrics_port is not None:
        from consumer.adapters.metrics import serve_metrics

        serve_metrics(settings.consumer_metrics_port)
    credit_app = bootstrap(settings)
    try:
        run_worker(credit_app)
    finally:
        credit_app.close()


def _require_topics(settings: Settings) -> None:
    from payhooks.topics import ensure_topics

    ensure_topics(settings)


@app.command()
def demo(state_dir: StateOpt = None) -> None:
    """Run the whole pipeline on the local stack and show what happened."""
    from payhooks.demo import run_demo

    raise typer.Exit(run_demo(settings_from(state_dir=state_dir), progress))


# --- the one way errors leave the CLI ---------------------------------------------------------


def main() -> None:
    from payhooks.stack.errors import StackError

    try:
        app()
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a user sees one line, never a traceback
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
