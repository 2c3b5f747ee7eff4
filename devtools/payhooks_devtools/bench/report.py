"""Results on disk: one JSON document and one plot per run under the results folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from payhooks_devtools.bench.stats import Figure


def results_document(
    figures: Sequence[Figure], machine: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": config,
        "figures": [figure.to_json() for figure in figures],
    }


def write_results(
    document: dict[str, Any], folder: Path, stamp: str, *, with_plot: bool = True
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    png_path = folder / f"bench-{stamp}.png"
    if with_plot:
        plot(document, png_path)
        if curve_points(document):
            plot_curve(document, curve_path(png_path))
    return json_path, png_path


def curve_path(png_path: Path) -> Path:
    """Where the latency-vs-load plot of the run whose ratio plot is `png_path` goes."""
    return png_path.with_name(png_path.stem + "-curve.png")


def curve_points(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The end-to-end figures that sit on the latency-vs-load curve, by rate."""
    points = [
        f for f in document["figures"] if f["stage"] == "e2e" and "percentile" in f.get("extra", {})
    ]
    return sorted(points, key=lambda f: f["extra"]["rate_wanted_per_s"])


def plot_curve(document: dict[str, Any], path: Path) -> None:
    """p50 and p99 of the pipeline and of the bare Kafka round trip against the offered rate
    (medians; whiskers min-max), latency on a log scale."""
    import matplotlib  # noqa: PLC0415 - matplotlib only when a plot is drawn; the backend is set first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after matplotlib.use("Agg")

    fig, ax = plt.subplots(figsize=(9, 5))
    styles = {50: "o-", 99: "s--"}
    for pct in (50, 99):
        points = [f for f in curve_points(document) if f["extra"]["percentile"] == pct]
        rates = [f["extra"]["rate_wanted_per_s"] for f in points]
        for side, color in (("subject", "#c62828"), ("baseline", "#1565c0")):
            summaries = [f[f"{side}_summary"] for f in points]
            medians = [s["median"] for s in summaries]
            ax.errorbar(
                rates,
                medians,
                yerr=[[m - s["min"] for m, s in zip(medians, summaries, strict=True)],
                      [s["max"] - m for m, s in zip(medians, summaries, strict=True)]],
                fmt=styles[pct],
                color=color,
                capsize=3,
                label=f"{points[0][side] if points else side} p{pct}",
            )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("offered webhooks/s (light load, then 10/25/50/75/90 % of the max sustained)")
    ax.set_ylabel("latency, ms (log scale)")
    ax.set_title(
        f"payhooks bench {document['measured_at']}: 2xx → credited vs the bare Kafka "
        "produce → consume round trip at the same rate",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(document: dict[str, Any], path: Path) -> None:
    """Each ratio as a bar (median) with its min-max range and its target marked."""
    import matplotlib  # noqa: PLC0415 - matplotlib only when a plot is drawn; the backend is set first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after matplotlib.use("Agg")

    figures = [f for f in document["figures"] if f["ratio"] is not None]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(figures) + 1.6))
    for row, figure in enumerate(reversed(figures)):
        ratio = figure["ratio"]
        met = figure["met"]
        color = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}[met]
        ax.barh(row, ratio["median"], color=color, alpha=0.8)
        ax.errorbar(
            ratio["median"],
            row,
            xerr=[[ratio["median"] - ratio["min"]], [ratio["max"] - ratio["median"]]],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        if figure["target"] is not None:
            ax.plot([figure["target"]] * 2, [row - 0.4, row + 0.4], color="black", linewidth=2)
        ax.text(ratio["max"] * 1.05, row, f"{ratio['median']:.2f}x", va="center", fontsize=8)
    ax.set_yticks(range(len(figures)))
    ax.set_yticklabels([f"{f['name']}\n({f['subject']} / {f['baseline']})"
                        for f in reversed(figures)], fontsize=7)  # fmt: skip
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")  # ratios: 0.5x and 2x are the same distance from 1x
    ax.set_xlabel("ratio to the baseline measured in the same run (bar: median; whiskers: "
                  "min-max; black tick: target)")  # fmt: skip
    machine = document["machine"]
    ax.set_title(
        f"payhooks bench {document['measured_at']}\n{machine['cores']} cores, "
        f"Python {machine['python']}, Kafka {machine['kafka']}, PostgreSQL "
        f"{machine['postgresql'].split()[0]}, Redis {machine['redis']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
