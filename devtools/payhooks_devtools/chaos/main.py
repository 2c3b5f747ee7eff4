"""`payhooks chaos`: every scenario (or one) on one private stack, a report each."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kernel.settings import Settings
from payhooks_devtools.chaos.faults import BROKERS_NEEDED, SCENARIOS
from payhooks_devtools.chaos.private_stack import private_stack
from payhooks_devtools.chaos.report import render
from payhooks_devtools.chaos.runner import ChaosConfig, ScenarioReport, ScenarioRun


def run_chaos(
    settings: Settings,
    scenario: str,
    *,
    payments: int,
    seed: int,
    concurrency: int,
    progress: Callable[[str], None],
    scale: float = 1.0,
    consumers: int = 3,
    hard: bool = False,
) -> int:
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}, all"
        )
    configs = [
        ChaosConfig(
            name, payments, seed, concurrency=concurrency, scale=scale, consumers=consumers,
            hard=hard,
        )
        for name in names
    ]  # fmt: skip
    reports = run_scenarios(settings.state_dir, configs, progress)
    for report in reports:
        print(render(report))
    return 0 if all(report.ok for report in reports) else 1


def run_scenarios(
    state_dir: Path, configs: list[ChaosConfig], progress: Callable[[str], None]
) -> list[ScenarioReport]:
    state_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="chaos-", dir=state_dir))
    progress(f"starting a private Kafka, PostgreSQL and Redis under {workdir}…")
    reports = []
    for brokers in sorted({BROKERS_NEEDED.get(config.scenario, 1) for config in configs}):
        group = [c for c in configs if BROKERS_NEEDED.get(c.scenario, 1) == brokers]
        if brokers > 1:
            progress(
                f"… a {brokers}-broker Kafka cluster for {', '.join(c.scenario for c in group)}"
            )
        with private_stack(workdir / f"stack-{brokers}", kafka_brokers=brokers) as stack:
            for config in group:
                reports.append(ScenarioRun(stack, config, workdir / "logs", progress).run())
    if all(report.ok for report in reports):
        shutil.rmtree(workdir, ignore_errors=True)  # kept on failure: the processes' logs
    return reports
