"""Short chaos runs (issue 6) on a private real stack: each fault, then the exactly-once verdict.

The long version is `payhooks chaos --payments 20000` (README).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from payhooks.chaos.faults import SCENARIOS
from payhooks.chaos.private_stack import PrivateStack, private_stack
from payhooks.chaos.report import render
from payhooks.chaos.runner import ChaosConfig, ScenarioRun
from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    # Under the project folder: root hands PostgreSQL to the postgres user, who must reach it.
    state = PROJECT_ROOT / ".payhooks" / f"chaos-tests-{tmp_path_factory.getbasetemp().name}"
    with private_stack(state) as stack:
        yield stack


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_nothing_accepted_is_lost_or_doubled_under(
    scenario: str, chaos_stack: PrivateStack, tmp_path: Path
) -> None:
    config = ChaosConfig(
        scenario, payments=250, seed=11, concurrency=24, scale=0.6, min_load_seconds=20.0,
        drain_seconds=240.0,
    )  # fmt: skip

    report = ScenarioRun(chaos_stack, config, tmp_path, print).run()

    print(render(report))
    assert report.faults, "the fault was never injected: the load ended first"
    assert report.load.accepted_references, "nothing was accepted"
    assert report.violations == []
    accepted = len(report.load.accepted_references)
    assert report.credited <= accepted
    assert report.credited + report.dead_lettered >= accepted
