"""Gateway stage: Paystack webhooks/s at 64 connections vs a bare hello endpoint on the same
server (uvicorn) and worker count, and vs the seed's synchronous design as a peer.

Each repetition runs hello, gateway, seed peer in turn (alternating, so drift on a shared
machine hits all three). The requests are genuine signed `charge.success` webhooks for
pre-initialized payments, a different one per request (wrk cycles through them); the hello
endpoint gets the same bodies. Every 202 means Kafka acknowledged the event (acks=all).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from kernel.topics import ensure_topics
from payhooks_devtools.bench.context import PYTHON, BenchContext
from payhooks_devtools.bench.costs import gateway_costs
from payhooks_devtools.bench.ledger import (
    amount_of,
    credited_count,
    paystack_webhook,
    reset_credits,
)
from payhooks_devtools.bench.ledger import seed_payments as seed
from payhooks_devtools.bench.load import (
    Pinning,
    WrkRun,
    run_wrk,
    serving,
    tree_cpu_seconds,
    write_wrk_script,
)
from payhooks_devtools.bench.stats import Figure
from payhooks_devtools.localnet import free_port
from schemas.providers.paystack import SIGNATURE_HEADER

HELLO_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def hello(_):
    return PlainTextResponse("hello")

app = Starlette(routes=[Route("/hello", hello, methods=["GET", "POST"])])
"""

SEED_REFERENCES = "sp"


@dataclass(frozen=True)
class GatewayConfig:
    connections: int = 64
    seconds: float = 10
    repetitions: int = 3
    workers: int = 1
    threads: int = 2  # wrk threads
    bodies: int = 20_000  # distinct signed webhooks (and seed-peer payments)
    scale_workers: int = 2  # also measured: the gateway with this many workers vs 1, unpinned


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    script: Path
    pinned: bool = True


@dataclass
class GatewayRuns:
    hello: list[WrkRun]
    gateway: list[WrkRun]
    seed: list[WrkRun]
    seed_credited: list[int]
    one_worker: list[WrkRun] = field(default_factory=list)  # unpinned, 1 worker
    scaled: list[WrkRun] = field(default_factory=list)  # unpinned, `scale_workers` workers
    costs: dict[str, float] = field(default_factory=dict)  # payhooks_devtools.bench.costs


def accepted_rate(run: WrkRun) -> float:
    """Requests/s that got a 2xx."""
    if run.requests == 0:
        return 0.0
    return run.requests_per_second * (1 - (run.non_2xx + run.socket_errors) / run.requests)


def _uvicorn(app: str, port: int, workers: int, app_dir: Path | None, factory: bool) -> list[str]:
    command = [PYTHON, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers)]
    # The listener settings `payhooks gateway` runs with (kernel/http_listener.py): no
    # X-Forwarded-* middleware, no `server:` header — so the comparison is the app, not them.
    command += ["--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    command += ["--no-server-header"]
    if factory:
        command.append("--factory")
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    return command


def run_gateway_stage(ctx: BenchContext, config: GatewayConfig) -> GatewayRuns:
    settings = ctx.stage_settings("gw")
    ensure_topics(settings)
    ctx.progress(f"gateway: {config.bodies} signed webhooks, seed-peer payments…")
    seed(ctx.database_url, SEED_REFERENCES, config.bodies)
    signed = [paystack_webhook(f"{SEED_REFERENCES}{n}", amount_of(n)) for n in range(config.bodies)]
    work = ctx.workdir
    (work / "hello_app.py").write_text(HELLO_APP)
    header = SIGNATURE_HEADER
    subject_requests = [(body, headers[header]) for body, headers in signed]
    subject_lua = write_wrk_script(work / "webhooks.lua", subject_requests, header, config.threads)
    hello_lua = write_wrk_script(
        work / "hello.lua", [(body, "") for body, _ in signed], header, config.threads
    )
    env = ctx.child_env(settings)
    names = ("hello", "gateway", "seed", "one_worker", "scaled")
    ports = {name: free_port() for name in names}

    def gateway(name: str, workers: int) -> list[str]:
        return [PYTHON, "-m", "payhooks", "gateway", "--port", str(ports[name]),
                "--workers", str(workers)]  # fmt: skip

    commands = {
        "hello": _uvicorn("hello_app:app", ports["hello"], config.workers, work, factory=False),
        "gateway": gateway("gateway", config.workers),
        "seed": _uvicorn(
            "payhooks_devtools.bench.seed_app:create_app", ports["seed"], config.workers, None, True
        ),
        "one_worker": gateway("one_worker", 1),
        "scaled": gateway("scaled", config.scale_workers),
    }
    ready = {"hello": "/hello", "seed": "/healthz"}
    targets = {
        "hello": Target("hello", f"http://127.0.0.1:{ports['hello']}/hello", hello_lua),
        **{
            name: Target(name, f"http://127.0.0.1:{ports[name]}/webhooks/paystack", subject_lua,
                         pinned=name not in ("one_worker", "scaled"))
            for name in names[1:]
        },
    }  # fmt: skip
    pids: dict[str, int] = {}  # each server's process (its workers are its children)
    with ExitStack() as servers:
        for name, command in commands.items():
            pinning = ctx.pinning if targets[name].pinned else Pinning(None, None)
            pids[name] = servers.enter_context(
                serving(
                    pinning.server_command(command),
                    env,
                    f"http://127.0.0.1:{ports[name]}{ready.get(name, '/readyz')}",
                    work / f"{name}.log",
                )
            ).pid
        runs = _alternate(ctx, config, targets, pids)
    runs.costs = gateway_costs(PYTHON)
    ctx.progress(f"gateway: accept-path parts, in-process µs per call: {runs.costs}")
    return runs


def _alternate(
    ctx: BenchContext, config: GatewayConfig, targets: dict[str, Target], pids: dict[str, int]
) -> GatewayRuns:
    def wrk(target: Target, seconds: float) -> WrkRun:
        cpu_before = tree_cpu_seconds(pids[target.name])
        run = run_wrk(
            target.url,
            target.script,
            connections=config.connections,
            seconds=seconds,
            pinning=ctx.pinning if target.pinned else Pinning(None, None),
            threads=config.threads,
        )
        cpu = tree_cpu_seconds(pids[target.name]) - cpu_before
        return replace(run, server_cpu_us_per_request=1e6 * cpu / max(1, run.requests))

    for target in targets.values():  # warm-up: connections, Kafka metadata, DB pool
        wrk(target, 1)
    _reset_when_idle(ctx.database_url)
    runs = GatewayRuns([], [], [], [])
    for repetition in range(config.repetitions):
        ctx.progress(f"gateway: repetition {repetition + 1}/{config.repetitions}")
        runs.hello.append(wrk(targets["hello"], config.seconds))
        runs.gateway.append(wrk(targets["gateway"], config.seconds))
        runs.seed.append(wrk(targets["seed"], config.seconds))
        runs.seed_credited.append(_reset_when_idle(ctx.database_url))
        runs.one_worker.append(wrk(targets["one_worker"], config.seconds))
        runs.scaled.append(wrk(targets["scaled"], config.seconds))
    return runs


def _reset_when_idle(database_url: str) -> int:
    """Wait until the seed peer has finished the requests still in flight when wrk stopped (a
    credit committing during the reset would leave a ledger row behind), then reset its
    credits; return how many there were."""
    credited, previous = credited_count(database_url, SEED_REFERENCES), -1
    while credited != previous:
        time.sleep(1)
        credited, previous = credited_count(database_url, SEED_REFERENCES), credited
    reset_credits(database_url, SEED_REFERENCES)
    return credited


def gateway_figures(runs: GatewayRuns, config: GatewayConfig) -> list[Figure]:
    c = config.connections

    def rates(items: list[WrkRun]) -> tuple[float, ...]:
        return tuple(accepted_rate(r) for r in items)

    def p(items: list[WrkRun], which: str) -> tuple[float, ...]:
        return tuple(getattr(r, which) for r in items)

    generator = {
        "accept_path_parts_us_per_call": runs.costs,
        "server_cpu_us_per_request_hello": [round(r.server_cpu_us_per_request) for r in runs.hello],
        "server_cpu_us_per_request_gateway": [
            round(r.server_cpu_us_per_request) for r in runs.gateway
        ],
        "wrk_cpu_cores_hello": [round(r.generator_cpu, 2) for r in runs.hello],
        "wrk_cpu_cores_gateway": [round(r.generator_cpu, 2) for r in runs.gateway],
        "gateway_non_2xx": sum(r.non_2xx + r.socket_errors for r in runs.gateway),
        "hello_non_2xx": sum(r.non_2xx + r.socket_errors for r in runs.hello),
    }
    seed_extra = {
        "seed_credited_per_run": runs.seed_credited,
        "seed_non_2xx": sum(r.non_2xx + r.socket_errors for r in runs.seed),
    }
    return [
        Figure("gateway", f"Gateway accepted webhooks/s @ {c} conns", "req/s", "gateway",
               rates(runs.gateway), "hello", rates(runs.hello), target=0.35, extra=generator),
        Figure("gateway", f"Gateway server CPU per request @ {c} conns", "µs", "gateway",
               p(runs.gateway, "server_cpu_us_per_request"), "hello",
               p(runs.hello, "server_cpu_us_per_request"), higher_is_better=False),
        Figure("gateway", f"Gateway p50 latency @ {c} conns", "ms", "gateway",
               p(runs.gateway, "p50_ms"), "hello", p(runs.hello, "p50_ms"),
               higher_is_better=False),
        Figure("gateway", f"Gateway p99 latency @ {c} conns", "ms", "gateway",
               p(runs.gateway, "p99_ms"), "hello", p(runs.hello, "p99_ms"),
               higher_is_better=False),
        Figure("gateway", f"Gateway --workers {config.scale_workers} vs 1 @ {c} conns, unpinned",
               "req/s", f"{config.scale_workers} workers", rates(runs.scaled), "1 worker",
               rates(runs.one_worker)),
        Figure("seed-peer", f"Accept rate vs seed design (sync credit) @ {c} conns", "req/s",
               "gateway", rates(runs.gateway), "seed design", rates(runs.seed),
               extra=seed_extra),
        Figure("seed-peer", f"p99 vs seed design @ {c} conns", "ms", "gateway",
               p(runs.gateway, "p99_ms"), "seed design", p(runs.seed, "p99_ms"),
               higher_is_better=False),
    ]  # fmt: skip
