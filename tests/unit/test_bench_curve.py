"""The latency-vs-load curve: its points, its figures against the bare Kafka floor, its plot."""

from __future__ import annotations

import json
from pathlib import Path

from payhooks_devtools.bench.e2e import E2EConfig, E2ERun, PointRuns, e2e_figures, plan_points
from payhooks_devtools.bench.floor import RoundTrips
from payhooks_devtools.bench.report import curve_path, curve_points, results_document, write_results

MACHINE = {"cores": 2, "python": "3.11", "kafka": "4.1.1", "postgresql": "15", "redis": "7"}


def _runs(point_rate: float, fraction: float, pipeline_ms: float, floor_ms: float) -> PointRuns:
    config = E2EConfig()
    (point,) = [p for p in plan_points(config, 1000.0) if p.fraction == fraction]
    assert point.rate == point_rate
    runs = PointRuns(point)
    runs.pipeline.append(E2ERun(point.rate, point.rate, 10, 0.0, [pipeline_ms] * 10))
    runs.floor.append(RoundTrips([floor_ms] * 10, sent=10))
    return runs


def test_the_curve_is_the_light_load_then_each_fraction_of_the_maximum() -> None:
    # Given a maximum sustained rate of 1,000/s
    points = plan_points(E2EConfig(repetitions=3, curve_repetitions=1), 1000.0)
    # Then the light load comes first, then 10..90 % of the maximum
    assert [round(p.rate) for p in points] == [60, 100, 250, 500, 750, 900]
    # And the light load and the half-max point get every repetition, the others fewer
    assert [p.repetitions for p in points] == [3, 1, 1, 3, 1, 1]


def test_only_the_light_load_p99_carries_the_target() -> None:
    # Given a light-load point 5x its floor and a half-max point 50x
    figures = e2e_figures([_runs(60, 0.0, 20.0, 4.0), _runs(500, 0.5, 200.0, 4.0)], 10.0)
    # Then every point has a p50 and a p99 figure against the bare Kafka round trip
    assert [f.baseline for f in figures] == ["bare Kafka"] * 4
    # And only the light load's p99 is held to the target, which it meets
    targeted = [f for f in figures if f.target is not None]
    assert [f.name for f in targeted] == ["End to end 2xx → credited p99 @ 60/s (light load)"]
    assert targeted[0].met is True
    assert all(f.ratio is not None and f.ratio.median > 1 for f in figures)


def test_the_curve_is_plotted_next_to_the_ratio_plot(tmp_path: Path) -> None:
    # Given the e2e figures of three load levels
    figures = e2e_figures(
        [_runs(60, 0.0, 20.0, 4.0), _runs(100, 0.1, 30.0, 4.0), _runs(500, 0.5, 200.0, 5.0)], 10.0
    )
    # When the results are written
    document = results_document(figures, MACHINE, {"quick": True})
    json_path, png_path = write_results(document, tmp_path, "stamp")
    # Then the curve's points are in rate order and the curve is a PNG beside the ratio plot
    points = curve_points(json.loads(json_path.read_text()))
    assert [p["extra"]["rate_wanted_per_s"] for p in points if p["extra"]["percentile"] == 50] == [
        60,
        100,
        500,
    ]
    assert curve_path(png_path).read_bytes().startswith(b"\x89PNG")
