"""End-to-end stage: webhook 2xx → credited, p50 and p99, against the bare Kafka produce →
consume round trip (`payhooks_devtools.bench.floor`) measured at the same rate in the same run: at a
light 60 webhooks/s and at 10, 25, 50, 75 and 90 % of the maximum sustained rate (the curve).

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

from kernel.topics import ensure_topics
from payhooks_devtools.bench.consumer import start_consumers, stop_all
from payhooks_devtools.bench.context import PYTHON, BenchContext
from payhooks_devtools.bench.floor import RoundTrips, ensure_floor_topic, kafka_round_trips
from payhooks_devtools.bench.ledger import (
    amount_of,
    credited_count,
    paystack_webhook,
    seed_payments,
)
from payhooks_devtools.bench.load import serving
from payhooks_devtools.bench.stats import Figure, percentile
from payhooks_devtools.localnet import free_port


@dataclass(frozen=True)
class E2EConfig:
    seconds: float = 10  # webhooks timed per run: rate * seconds
    # Sent first, on the same schedule, not timed: the pipeline's steady state at the rate, as
    # the floor's warm-up records give it (each pipeline run follows seconds of idleness: the
    # floor's own run, the payments' seeding).
    warm_up_seconds: float = 1.0
    repetitions: int = 3  # the light load and the half-max point
    curve_repetitions: int = 1  # the other points of the curve
    connections: int = 64
    light_rate: float = 60.0
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
    floor_seconds: float = 5  # the bare Kafka round trips at each point
    light_target: float = 10.0  # e2e p99 ≤ this times the bare Kafka p99 at the light load


@dataclass
class E2ERun:
    rate_wanted: float
    rate_sent: float
    accepted: int
    sender_max_lag_ms: float
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class Sent:
    accepted_at: dict[str, float] = field(default_factory=dict)  # reference → epoch of the 2xx
    refused: int = 0
    seconds: float = 0.0  # from the start to the last send
    max_lag: float = 0.0  # the latest a request went out after its scheduled time


async def send_open_loop(
    port: int, webhooks: list[tuple[str, bytes]], rate: float, connections: int
) -> Sent:
    """Send each pre-built request at its scheduled time (`index / rate` after the start) over
    `connections` keep-alive connections. A raw HTTP/1.1 client: at this rate a full client
    library would cost more CPU than the gateway it measures."""
    sent = Sent()
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue = iter(enumerate(webhooks))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index, (reference, request) in queue:
                delay = start + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent.max_lag = max(sent.max_lag, -delay)  # behind schedule: every connection busy
                sent.seconds = loop.time() - start
                writer.write(request)
                if await _status(reader) // 100 == 2:
                    sent.accepted_at[reference] = time.time()
                else:
                    sent.refused += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return sent


async def _status(reader: asyncio.StreamReader) -> int:
    """Read one response (status line, headers, Content-Length body); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))
    return status


def http_request(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = ["POST /webhooks/paystack HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


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


@dataclass(frozen=True)
class Point:
    """One load level of the curve: `fraction` of the maximum sustained rate (0 = the fixed
    light load)."""

    rate: float
    fraction: float
    repetitions: int

    @property
    def label(self) -> str:
        if self.fraction == 0:
            return f"{self.rate:.0f}/s (light load)"
        return f"{self.rate:.0f}/s ({self.fraction:.0%} of max)"


@dataclass
class PointRuns:
    point: Point
    pipeline: list[E2ERun] = field(default_factory=list)
    floor: list[RoundTrips] = field(default_factory=list)


def plan_points(config: E2EConfig, max_rate: float) -> list[Point]:
    """The light load, then each fraction of the maximum; the half-max point (the table's
    historical one) gets every repetition, the others `curve_repetitions`."""
    points = [Point(config.light_rate, 0.0, config.repetitions)]
    for fraction in config.fractions:
        reps = config.repetitions if fraction == 0.5 else config.curve_repetitions
        points.append(Point(max_rate * fraction, fraction, reps))
    return points


def run_e2e_stage(ctx: BenchContext, config: E2EConfig, max_rate: float) -> list[PointRuns]:
    settings = ctx.stage_settings("e2e")
    ensure_topics(settings)
    ensure_floor_topic(settings)
    port = free_port()
    env = ctx.child_env(settings)
    command = [PYTHON, "-m", "payhooks", "gateway", "--port", str(port)]
    results = []
    with serving(command, env, f"http://127.0.0.1:{port}/readyz", ctx.workdir / "e2e-gw.log"):
        procs, watch = start_consumers(ctx, settings, 1, "e2e-consumer")
        logs = [member.path for member in watch.members]
        try:
            for index, point in enumerate(plan_points(config, max_rate)):
                runs = PointRuns(point)
                for repetition in range(point.repetitions):
                    count = max(1, round(point.rate * config.seconds))
                    ctx.progress(
                        f"e2e: {point.label}, repetition {repetition + 1}/{point.repetitions}: "
                        f"bare Kafka round trips, then {count} webhooks"
                    )
                    runs.floor.append(kafka_round_trips(settings, point.rate, config.floor_seconds))
                    runs.pipeline.append(
                        _one_run(ctx, config, port, logs, rate=point.rate, count=count,
                                 prefix=f"e{index}r{repetition}x")
                    )  # fmt: skip
                results.append(runs)
        finally:
            stop_all(procs)
    return results


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
    warm = round(rate * config.warm_up_seconds)
    seed_payments(ctx.database_url, prefix, warm + count)
    webhooks = []
    for n in range(warm + count):
        body, headers = paystack_webhook(f"{prefix}{n}", amount_of(n))
        webhooks.append((f"{prefix}{n}", http_request(port, body, headers)))
    sent = asyncio.run(send_open_loop(port, webhooks, rate, config.connections))
    deadline = time.monotonic() + 300
    while credited_count(ctx.database_url, prefix) < len(sent.accepted_at):
        if time.monotonic() > deadline:
            raise RuntimeError(f"e2e: {prefix} payments were not all credited in 300 s")
        time.sleep(0.2)
    time.sleep(0.5)  # the log line follows the Kafka commit that follows the database commit
    credited = credited_at(logs)
    timed = {reference for reference, _ in webhooks[warm:]}
    accepted = {ref: at for ref, at in sent.accepted_at.items() if ref in timed}
    latencies = [(credited[ref] - at) * 1000 for ref, at in accepted.items() if ref in credited]
    return E2ERun(
        rate_wanted=rate,
        rate_sent=(warm + count) / sent.seconds if sent.seconds else 0.0,
        accepted=len(accepted),
        sender_max_lag_ms=sent.max_lag * 1000,
        latencies_ms=latencies,
    )


def e2e_figures(points: list[PointRuns], light_target: float) -> list[Figure]:
    """Per load level: the pipeline's p50 and p99 against the bare Kafka round trip's at the
    same rate (the light load's p99 carries the target). Each figure's `extra` says where on
    the curve it is; the p50 one also holds the runs' details."""
    figures = []
    for runs in points:
        point, pipeline, floor = runs.point, runs.pipeline, runs.floor
        where = {"rate_wanted_per_s": round(point.rate, 1), "fraction_of_max": point.fraction}
        details = {
            "rate_sent_per_s": [round(r.rate_sent, 1) for r in pipeline],
            "accepted": [r.accepted for r in pipeline],
            "sender_max_lag_ms": [round(r.sender_max_lag_ms, 1) for r in pipeline],
            "latencies_measured": [len(r.latencies_ms) for r in pipeline],
            "floor_received": [f"{len(f.latencies_ms)}/{f.sent}" for f in floor],
            "floor_sender_max_lag_ms": [round(f.max_lag_ms, 1) for f in floor],
        }
        for pct in (50, 99):
            figures.append(
                Figure("e2e", f"End to end 2xx → credited p{pct} @ {point.label}", "ms",
                       "pipeline", tuple(percentile(r.latencies_ms, pct) for r in pipeline),
                       "bare Kafka", tuple(percentile(f.latencies_ms, pct) for f in floor),
                       target=light_target if pct == 99 and point.fraction == 0 else None,
                       higher_is_better=False,
                       extra={**where, "percentile": pct, **(details if pct == 50 else {})})
            )  # fmt: skip
    return figures
