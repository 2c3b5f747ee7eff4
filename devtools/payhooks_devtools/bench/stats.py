"""Pure benchmark arithmetic: medians with min-max, paired ratios, targets, the results table.

Runs of a subject and its baseline alternate, so repetition i of one is paired with repetition i
of the other: the ratio's spread is the spread of those per-repetition ratios, which cancels slow
drift on a shared machine better than dividing two medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and range of a few repetitions."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("a summary needs at least one sample")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


def paired_ratios(subject: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """subject[i] / baseline[i] for each repetition both have (a zero baseline is skipped)."""
    return [s / b for s, b in zip(subject, baseline, strict=False) if b > 0]


@dataclass(frozen=True)
class Figure:
    """One line of the table: a subject measured against a baseline from the same run.

    `higher_is_better` says which way the target points: a rate ratio must reach `target`, a
    latency ratio must stay at or below it. A figure without a baseline (`baseline_runs` empty)
    is reported as measured, with no ratio.
    """

    stage: str
    name: str
    unit: str
    subject: str
    subject_runs: tuple[float, ...]
    baseline: str = ""
    baseline_runs: tuple[float, ...] = ()
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Summary | None:
        ratios = paired_ratios(self.subject_runs, self.baseline_runs)
        return Summary.of(ratios) if ratios else None

    @property
    def met(self) -> bool | None:
        """Whether the median ratio meets the target; None when there is no target or ratio."""
        ratio = self.ratio
        if self.target is None or ratio is None:
            return None
        if self.higher_is_better:
            return ratio.median >= self.target
        return ratio.median <= self.target

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "stage": self.stage,
            "name": self.name,
            "unit": self.unit,
            "subject": self.subject,
            "subject_runs": list(self.subject_runs),
            "subject_summary": _summary_json(Summary.of(self.subject_runs)),
            "baseline": self.baseline,
            "baseline_runs": list(self.baseline_runs),
            "baseline_summary": (
                _summary_json(Summary.of(self.baseline_runs)) if self.baseline_runs else None
            ),
            "ratio": _summary_json(ratio) if ratio else None,
            "target": self.target,
            "higher_is_better": self.higher_is_better,
            "met": self.met,
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }


def _summary_json(summary: Summary) -> dict[str, float]:
    return {
        "median": round(summary.median, 4),
        "min": round(summary.low, 4),
        "max": round(summary.high, 4),
        "n": summary.n,
    }


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_summary(summary: Summary, unit: str = "") -> str:
    """`1,234 (1,100-1,300) req/s`; the range is left out for a single run."""
    text = _number(summary.median)
    if summary.n > 1:
        text += f" ({_number(summary.low)}-{_number(summary.high)})"
    return f"{text} {unit}".rstrip()


def format_ratio(figure: Figure) -> str:
    ratio = figure.ratio
    if ratio is None:
        return "—"
    text = f"{ratio.median:.2f}x"
    if ratio.n > 1:
        text += f" ({ratio.low:.2f}-{ratio.high:.2f})"
    return text


def format_target(figure: Figure) -> str:
    if figure.target is None:
        return "—"
    sign = "≥" if figure.higher_is_better else "≤"
    verdict = {True: " ✓", False: " ✗", None: ""}[figure.met]
    return f"{sign} {figure.target:g}x{verdict}"


def render_table(figures: Sequence[Figure]) -> str:
    """A Markdown table: the README shows it as is, a terminal reads it fine."""
    lines = [
        "| figure | subject | baseline | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for figure in figures:
        subject = (
            f"{figure.subject}: {format_summary(Summary.of(figure.subject_runs), figure.unit)}"
        )
        baseline = (
            f"{figure.baseline}: {format_summary(Summary.of(figure.baseline_runs), figure.unit)}"
            if figure.baseline_runs
            else "—"
        )
        lines.append(
            f"| {figure.name} | {subject} | {baseline} | {format_ratio(figure)} | "
            f"{format_target(figure)} |"
        )
    return "\n".join(lines)


def percentile(samples: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile by linear interpolation between closest ranks (as numpy's
    default); 0 for no samples, so an empty run shows as such rather than failing the report."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
