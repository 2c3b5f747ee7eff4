"""`payhooks bench`: run the stages on the local stack, print the table, write results/."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.settings import Settings
from payhooks_devtools.bench.consumer import ConsumerConfig, consumer_figures, run_consumer_stage
from payhooks_devtools.bench.context import BenchContext
from payhooks_devtools.bench.e2e import E2EConfig, e2e_figures, run_e2e_stage
from payhooks_devtools.bench.gateway import (
    GatewayConfig,
    accepted_rate,
    gateway_figures,
    run_gateway_stage,
)
from payhooks_devtools.bench.ledger import bench_database
from payhooks_devtools.bench.load import Pinning, ensure_wrk
from payhooks_devtools.bench.machine import describe
from payhooks_devtools.bench.report import curve_path, results_document, write_results
from payhooks_devtools.bench.stats import Figure, render_table

STAGES = ("gateway", "consumer", "e2e")
E2E_FALLBACK_RATE = 400.0  # the e2e stage alone has no measured maximum to halve


@dataclasses.dataclass(frozen=True)
class Plan:
    gateway: GatewayConfig
    consumer: ConsumerConfig
    e2e: E2EConfig

    @classmethod
    def full(cls) -> Plan:
        return cls(GatewayConfig(), ConsumerConfig(), E2EConfig())

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            GatewayConfig(seconds=3, repetitions=1, bodies=3000),
            ConsumerConfig(events=2000, repetitions=1),
            E2EConfig(seconds=2, repetitions=1, floor_seconds=1),
        )


def run_bench(
    settings: Settings,
    *,
    quick: bool,
    stages: Sequence[str],
    results_dir: Path,
    docs_dir: Path | None,
    keep_database: bool,
    pin: bool = True,
    progress: Callable[[str], None],
) -> int:
    # SIGTERM unwinds like Ctrl-C: servers and consumers stopped, the database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan.quick() if quick else Plan.full()
    wrk_version = ensure_wrk(progress)
    token = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"payhooks-bench-{token}-"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    config: dict[str, Any] = {"quick": quick, "stages": list(stages)}
    config |= {name: dataclasses.asdict(getattr(plan, name)) for name in STAGES}
    with bench_database(settings.database_url, token, keep=keep_database) as database_url:
        ctx = BenchContext(settings, database_url, token, workdir,
                           Pinning.for_machine(enabled=pin), progress, quick)  # fmt: skip
        machine = describe(settings, database_url, wrk_version)
        config["pinning"] = dataclasses.asdict(ctx.pinning)
        progress(f"bench {token}: {machine['cores']} cores, logs in {workdir}")

        def checkpoint(figures: list[Figure]) -> None:
            """Each finished stage is on disk at once: a later stage failing loses nothing."""
            document = results_document(figures, machine, config)
            write_results(document, results_dir, stamp, with_plot=False)
            progress(render_table(figures))

        figures = _run_stages(ctx, plan, stages, checkpoint)
    document = results_document(figures, machine, config)
    json_path, png_path = write_results(document, results_dir, stamp)
    print(render_table(figures))
    progress(f"results: {json_path}  plot: {png_path}")
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png_path, docs_dir / "bench.png")
        shutil.copyfile(json_path, docs_dir / "bench.json")
        if curve_path(png_path).exists():
            shutil.copyfile(curve_path(png_path), docs_dir / "curve.png")
        (docs_dir / "table.md").write_text(render_table(figures) + "\n")
        progress(f"copied the plot, results and table to {docs_dir}")
    return 0


def _run_stages(
    ctx: BenchContext,
    plan: Plan,
    stages: Sequence[str],
    checkpoint: Callable[[list[Figure]], None],
) -> list[Figure]:
    figures: list[Figure] = []
    measured: dict[str, Any] = {}
    if "gateway" in stages:
        runs = run_gateway_stage(ctx, plan.gateway)
        measured["gateway"] = statistics.median(accepted_rate(r) for r in runs.gateway)
        figures += gateway_figures(runs, plan.gateway)
        checkpoint(figures)
    if "consumer" in stages:
        consumer_runs = run_consumer_stage(ctx, plan.consumer)
        measured["consumer"] = statistics.median(consumer_runs.rates["1 consumer"])
        figures += consumer_figures(consumer_runs, plan.consumer.batch_size)
        checkpoint(figures)
    if "e2e" in stages:
        max_rate = min(measured.values(), default=E2E_FALLBACK_RATE * 2)
        figures += e2e_figures(run_e2e_stage(ctx, plan.e2e, max_rate), plan.e2e.light_target)
    return figures
