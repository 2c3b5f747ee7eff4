"""End-to-end stage: webhook 2xx → credited, p50 and p99, at half the maximum sustained rate.

The maximum sustained rate is the slower of the gateway's accept rate and one consumer's drain
rate, both measured earlier in the same run. One gateway and one consumer run together; an
open-loop sender (a fixed schedule, not "send when the last one answered", so a slow answer
does not hide queueing) posts signed webhooks for pre-initialized payments and notes when each
2xx arrived; the consumer's `credit.applied` log line (written once the credit is committed in
PostgreSQL and the offset in Kafka) says when it was credited. Same machine, same clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from payhooks.bench.consumer import start_consumers, stop_all
from payhooks.bench.context import PYTHON, BenchContext
from payhooks.bench.ledger import amount_of, credited_count, paystack_webhook, seed_payments
from payhooks.bench.load import free_port, serving
from payhooks.bench.stats import Figure, percentile
from payhooks.topics import ensure_topics


@dataclass(frozen=True)
class E2EConfig:
    seconds: float = 20
    repetitions: int = 3
    connections: int = 64


@dataclass
class E2ERun:
    rate_wanted: float
    rate_sent: float
    accepted: int
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class Sent:
    accepted_at: dict[str, float] = field(default_factory=dict)  # reference → epoch of the 2xx
    refused: int = 0
    seconds: float = 0.0


async def send_open_loop(
    url: str, webhooks: list[tuple[str, bytes, dict[str, str]]], rate: float, connections: int
) -> Sent:
    sent = Sent()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(reference: str, body: bytes, headers: dict[str, str]) -> None:
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                sent.refused += 1
                return
            if response.is_success:
                sent.accepted_at[reference] = time.time()
            else:
                sent.refused += 1

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for index, (reference, body, headers) in enumerate(webhooks):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(reference, body, headers)))
        sent.seconds = loop.time() - start
        await asyncio.gather(*tasks)
    return sent


def credited_at(logs: list[Path]) -> dict[str, float]:
    """reference → epoch at which a consumer logged `credit.applied` for it."""
    found: dict[str, float] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            if '"credit.applied"' not in line:
                continue
            record = json.loads(line)
            found[record["reference"]] = datetime.fromisoformat(record["timestamp"]).timestamp()
    return found


def run_e2e_stage(ctx: BenchContext, config: E2EConfig, max_rate: float) -> list[E2ERun]:
    settings = ctx.stage_settings("e2e")
    ensure_topics(settings)
    rate = max_rate / 2
    count = max(1, round(rate * config.seconds))
    port = free_port()
    env = ctx.child_env(settings)
    command = [PYTHON, "-m", "payhooks", "gateway", "--port", str(port)]
    runs = []
    with serving(command, env, f"http://127.0.0.1:{port}/readyz", ctx.workdir / "e2e-gw.log"):
        procs, logs = start_consumers(ctx, settings, 1, "e2e-consumer")
        try:
            for repetition in range(config.repetitions):
                ctx.progress(
                    f"e2e: repetition {repetition + 1}/{config.repetitions}: {count} webhooks "
                    f"at {rate:.0f}/s"
                )
                runs.append(
                    _one_run(
                        ctx, config, port, logs, rate=rate, count=count, prefix=f"e{repetition}x"
                    )
                )
        finally:
            stop_all(procs)
    return runs


def _one_run(
    ctx: BenchContext,
    config: E2EConfig,
    port: int,
    logs: list[Path],
    *,
    rate: float,
    count: int,
    prefix: str,
) -> E2ERun:
    seed_payments(ctx.database_url, prefix, count)
    webhooks = []
    for n in range(count):
        body, headers = paystack_webhook(f"{prefix}{n}", amount_of(n))
        webhooks.append((f"{prefix}{n}", body, {**headers, "content-type": "application/json"}))
    url = f"http://127.0.0.1:{port}/webhooks/paystack"
    sent = asyncio.run(send_open_loop(url, webhooks, rate, config.connections))
    deadline = time.monotonic() + 300
    while credited_count(ctx.database_url, prefix) < len(sent.accepted_at):
        if time.monotonic() > deadline:
            raise RuntimeError(f"e2e: {prefix} payments were not all credited in 300 s")
        time.sleep(0.2)
    time.sleep(0.5)  # the log line follows the Kafka commit that follows the database commit
    credited = credited_at(logs)
    latencies = [
        (credited[ref] - at) * 1000 for ref, at in sent.accepted_at.items() if ref in credited
    ]
    return E2ERun(rate, count / sent.seconds if sent.seconds else 0.0, len(sent.accepted_at),
                  latencies)  # fmt: skip


def e2e_figures(runs: list[E2ERun]) -> list[Figure]:
    extra = {
        "rate_wanted_per_s": round(runs[0].rate_wanted, 1),
        "rate_sent_per_s": [round(r.rate_sent, 1) for r in runs],
        "accepted": [r.accepted for r in runs],
        "latencies_measured": [len(r.latencies_ms) for r in runs],
    }
    rate = runs[0].rate_wanted
    return [
        Figure("e2e", f"End to end 2xx → credited p50 @ {rate:.0f}/s", "ms", "pipeline",
               tuple(percentile(r.latencies_ms, 50) for r in runs), extra=extra),
        Figure("e2e", f"End to end 2xx → credited p99 @ {rate:.0f}/s", "ms", "pipeline",
               tuple(percentile(r.latencies_ms, 99) for r in runs)),
    ]  # fmt: skip
