"""Where each consumer member's drain time goes, from its own Prometheus metrics (scraped at the
clock's start and end): the share of the drain it spent settling batches in PostgreSQL
(`payhooks_consumer_credit_seconds`: locks, credits, commit; decode and the free locks are
taken beforehand on the polling thread, overlapping the previous batch's settle) and its mean
batch size. The rest of
its time is the Kafka transaction and the log lines (on the settle thread), or waiting for the
next prepared batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

CREDIT = "payhooks_consumer_credit_seconds_sum"
RECORDS = "payhooks_consumer_batch_size_sum"
BATCHES = "payhooks_consumer_batch_size_count"


def scrape(port: int) -> dict[str, float]:
    """The counters above from one member's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).raise_for_status().text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in (CREDIT, RECORDS, BATCHES)
    }


@dataclass
class Phases:
    ports: list[int]  # each member's metrics port
    _at_start: list[dict[str, float]] = field(default_factory=list)

    def start(self) -> None:
        self._at_start = [scrape(port) for port in self.ports]

    def summary(self, elapsed: float) -> dict[str, float]:
        """credit_share_min/max over the members (of the drain's wall time), mean_batch."""
        deltas = [
            {name: value - before.get(name, 0.0) for name, value in scrape(port).items()}
            for port, before in zip(self.ports, self._at_start, strict=True)
        ]
        shares = [delta.get(CREDIT, 0.0) / elapsed for delta in deltas]
        batches = sum(delta.get(BATCHES, 0.0) for delta in deltas)
        records = sum(delta.get(RECORDS, 0.0) for delta in deltas)
        return {
            "credit_share_min": round(min(shares), 3),
            "credit_share_max": round(max(shares), 3),
            "mean_batch": round(records / batches, 1) if batches else 0.0,
        }
