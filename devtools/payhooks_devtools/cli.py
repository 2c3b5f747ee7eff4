"""The dev tooling's `payhooks` commands: stack, simulator, demo, chaos, bench.

`payhooks.cli` adds them with `register` when payhooks-devtools is installed (`make setup`).
Each command imports what it runs inside its body: `payhooks --help` and every runtime command
must not load the simulator's, chaos' or bench's dependencies (ruff PLC0415 is ignored for this
file in pyproject.toml for that reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kernel.cli_options import (
    DatabaseOpt,
    KafkaOpt,
    PrefixOpt,
    RedisOpt,
    StateOpt,
    progress,
    settings_from,
)

COMMANDS = ("stack", "simulator", "demo", "chaos", "bench")

stack_app = typer.Typer(help="The local Kafka (KRaft), PostgreSQL and Redis.", no_args_is_help=True)
commands = typer.Typer()


def register(app: typer.Typer) -> None:
    """Add the dev commands to the `payhooks` CLI."""
    app.add_typer(stack_app, name="stack")
    app.registered_commands.extend(commands.registered_commands)


# --- stack -------------------------------------------------------------------------------------


@stack_app.command("up")
def stack_up(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
    kafka_brokers: Annotated[
        int,
        typer.Option(
            "--kafka-brokers",
            envvar="PAYHOOKS_KAFKA_BROKERS",
            min=1,
            help="Brokers of the local KRaft cluster: on the Kafka port and the next ones.",
        ),
    ] = 1,
) -> None:
    """Start whatever is not already answering; reuse what is."""
    stack = _stack(kafka_bootstrap, database_url, redis_url, state_dir, kafka_brokers=kafka_brokers)
    _print_status(stack.up(progress))


@stack_app.command("down")
def stack_down(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Stop what `stack up` started, and nothing else."""
    stopped = _stack(kafka_bootstrap, database_url, redis_url, state_dir).down(progress)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@stack_app.command("status")
def stack_status(
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Each server, its address, and whether it answers. Exit 1 if any does not."""
    statuses = _stack(kafka_bootstrap, database_url, redis_url, state_dir).status()
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
    stack = _stack(kafka_bootstrap, database_url, redis_url, topic_prefix=topic_prefix)
    typer.echo("\n".join(stack.env_lines()))


def _stack(
    kafka_bootstrap: str | None,
    database_url: str | None,
    redis_url: str | None,
    state_dir: Path | None = None,
    *,
    topic_prefix: str | None = None,
    kafka_brokers: int | None = None,  # None: as many as `stack up` recorded
) -> Any:
    """The local stack, from the environment with the flags given on top."""
    from payhooks_devtools.stack import Stack

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        redis_url=redis_url,
        state_dir=state_dir,
        topic_prefix=topic_prefix,
    )
    return Stack(settings, kafka_brokers=kafka_brokers)


def _print_status(statuses: list[Any]) -> None:
    for status in statuses:
        state = "up" if status.answers else "DOWN"
        owner = "started by payhooks" if status.started_by_payhooks else "external"
        typer.echo(f"{status.name:<9} {status.address:<22} {state:<5} {owner}")


@commands.command()
def simulator(
    host: Annotated[str, typer.Option(envvar="PAYHOOKS_SIMULATOR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PAYHOOKS_SIMULATOR_PORT")] = 8090,
    gateway_url: Annotated[
        str | None,
        typer.Option(
            "--gateway-url", envvar="PAYHOOKS_GATEWAY_URL", help="Where simulated webhooks go."
        ),
    ] = None,
) -> None:
    """Stand in for the providers' APIs (initialize / verify) and send signed webhooks.

    Point the gateway at it with PAYHOOKS_<PROVIDER>_API_BASE=http://HOST:PORT/<provider>.
    """
    import uvicorn

    from payhooks_devtools.simulator.app import build_simulator

    settings = settings_from(gateway_url=gateway_url)
    app = build_simulator(settings, base_url=f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@commands.command()
def demo(state_dir: StateOpt = None) -> None:
    """Run the whole pipeline on the local stack and show what happened."""
    from payhooks_devtools.demo import run_demo

    raise typer.Exit(run_demo(settings_from(state_dir=state_dir), progress))


# --- chaos -------------------------------------------------------------------------------------


@commands.command()
def chaos(  # noqa: PLR0917 - typer maps each parameter to a CLI option
    scenario: Annotated[
        str,
        typer.Option(
            help="kill-consumers | kafka-outage | postgres-restart | redis-stop | "
            "rebalance-storm | kill-gateways | broker-kill (a 3-broker cluster) | all"
        ),
    ] = "all",
    payments: Annotated[int, typer.Option(min=1, help="Payments per scenario.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seeds the load and the faults (repeatable runs).")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Webhooks in flight at once.")] = 32,
    consumers: Annotated[int, typer.Option(min=1, help="Consumer processes (group members).")] = 3,
    hard: Annotated[
        bool,
        typer.Option(
            "--hard",
            help="Hard faults: SIGKILL the broker or the gateway, PostgreSQL `immediate` stop.",
        ),
    ] = False,
    state_dir: StateOpt = None,
) -> None:
    """Load through 2 gateways and N consumers on a private stack while faults are injected;
    then check every genuine webhook sent was accepted and credited once (or dead-lettered with
    a reason), and credits resumed soon after the fault. Exit 1 on any violation."""
    from payhooks_devtools.chaos.main import run_chaos

    settings = settings_from(state_dir=state_dir)
    raise typer.Exit(
        run_chaos(
            settings,
            scenario,
            payments=payments,
            seed=seed,
            concurrency=concurrency,
            progress=progress,
            consumers=consumers,
            hard=hard,
        )
    )


# --- bench -------------------------------------------------------------------------------------


@commands.command()
def bench(
    *,
    quick: Annotated[
        bool, typer.Option("--quick", help="Few events and seconds: a smoke run, not figures.")
    ] = False,
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", help="gateway | consumer | e2e (repeat it; default: all)."),
    ] = None,
    results_dir: Annotated[
        Path, typer.Option("--results-dir", help="Where results JSON and plots go.")
    ] = Path("results"),
    docs: Annotated[
        bool,
        typer.Option("--docs", help="Also copy the plot, JSON and table to docs/bench/."),
    ] = False,
    keep_database: Annotated[
        bool, typer.Option("--keep-database", help="Keep the benchmark's database afterwards.")
    ] = False,
    pin: Annotated[
        bool,
        typer.Option(
            "--pin/--no-pin",
            help="HTTP stages: servers on all cores but the last, wrk on the last (taskset).",
        ),
    ] = True,
    kafka_bootstrap: KafkaOpt = None,
    database_url: DatabaseOpt = None,
    redis_url: RedisOpt = None,
) -> None:
    """Benchmarks against baselines measured in the same run, on the local stack: the table on
    stdout, results JSON and a plot under --results-dir."""
    from payhooks_devtools.bench.main import STAGES, run_bench

    stages = tuple(stage or STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise typer.BadParameter(f"unknown stage(s) {sorted(unknown)}; known: {list(STAGES)}")
    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap, database_url=database_url, redis_url=redis_url
    )
    raise typer.Exit(
        run_bench(
            settings,
            quick=quick,
            stages=stages,
            results_dir=results_dir,
            docs_dir=Path("docs/bench") if docs else None,
            keep_database=keep_database,
            pin=pin,
            progress=progress,
        )
    )
