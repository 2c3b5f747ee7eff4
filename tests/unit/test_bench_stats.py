"""The benchmark's pure parts: summaries, paired ratios, targets, percentiles, the table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payhooks_devtools.bench.stats import (
    Figure,
    Summary,
    format_ratio,
    paired_ratios,
    percentile,
    render_table,
)

rates = st.lists(st.floats(min_value=1, max_value=1e6), min_size=1, max_size=9)


def test_a_summary_is_the_median_with_min_and_max() -> None:
    # Given three repetitions, When summarized, Then median and range come out
    assert Summary.of([3.0, 1.0, 2.0]) == Summary(2.0, 1.0, 3.0, 3)


def test_a_summary_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        Summary.of([])


def test_ratios_pair_repetition_i_with_repetition_i() -> None:
    # Given alternating runs, When paired, Then each subject run is divided by its own baseline
    assert paired_ratios([10, 30], [20, 30]) == [0.5, 1.0]


def test_a_zero_baseline_is_left_out_rather_than_dividing_by_zero() -> None:
    assert paired_ratios([10, 30], [0, 30]) == [1.0]


@given(rates)
def test_a_subject_equal_to_its_baseline_has_ratio_one(samples: list[float]) -> None:
    figure = Figure("s", "same", "/s", "a", tuple(samples), "b", tuple(samples), target=1.0)
    assert figure.ratio is not None
    assert figure.ratio.median == pytest.approx(1.0)
    assert figure.met is True


@given(rates)
def test_the_ratio_range_contains_its_median(samples: list[float]) -> None:
    baseline = tuple(reversed(samples))
    figure = Figure("s", "n", "/s", "a", tuple(samples), "b", baseline)
    ratio = figure.ratio
    assert ratio is not None
    assert ratio.low <= ratio.median <= ratio.high


def test_a_rate_target_is_met_at_or_above_it() -> None:
    # Given a rate ratio target of 0.5, Then 0.5 meets it and 0.49 does not
    assert Figure("g", "n", "/s", "a", (50,), "b", (100,), target=0.5).met is True
    assert Figure("g", "n", "/s", "a", (49,), "b", (100,), target=0.5).met is False


def test_a_latency_target_is_met_at_or_below_it() -> None:
    def p99(ours: float) -> Figure:
        return Figure(
            "g", "p99", "ms", "a", (ours,), "b", (10,), target=1.0, higher_is_better=False
        )

    assert p99(9).met is True
    assert p99(11).met is False


def test_without_baseline_or_target_there_is_no_verdict() -> None:
    figure = Figure("e2e", "p50", "ms", "pipeline", (12.0, 14.0))
    assert figure.ratio is None
    assert figure.met is None
    assert format_ratio(figure) == "—"


def test_percentiles_interpolate_between_ranks() -> None:
    samples = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile(samples, 100) == 100.0
    assert percentile([], 99) == 0.0


def test_the_table_shows_medians_ranges_ratios_and_verdicts() -> None:
    # Given a rate figure that misses its target and a measured-only latency figure
    figures = [
        Figure("gateway", "Accepted/s", "req/s", "gateway", (2000, 2200, 2100),
               "hello", (10_000, 11_000, 10_500), target=0.5),
        Figure("e2e", "2xx to credited p99", "ms", "pipeline", (40.0,)),
    ]  # fmt: skip
    # When rendered
    table = render_table(figures).splitlines()
    # Then there is a header, a separator and one row per figure, in order
    assert table[0].startswith("| figure |")
    assert len(table) == 4
    assert "gateway: 2,100 (2,000-2,200) req/s" in table[2]
    assert "hello: 10,500 (10,000-11,000) req/s" in table[2]
    assert "0.20x (0.20-0.20)" in table[2]
    assert "≥ 0.5x ✗" in table[2]
    assert table[3] == "| 2xx to credited p99 | pipeline: 40.0 ms | — | — | — |"


def test_the_json_form_carries_runs_summaries_and_verdict() -> None:
    figure = Figure("consumer", "1 process", "/s", "1 consumer", (300.0, 330.0),
                    "pgbench -c1", (200.0, 300.0), target=1.0)  # fmt: skip
    document = figure.to_json()
    assert document["ratio"] == {"median": 1.3, "min": 1.1, "max": 1.5, "n": 2}
    assert document["met"] is True
    assert document["subject_runs"] == [300.0, 330.0]
