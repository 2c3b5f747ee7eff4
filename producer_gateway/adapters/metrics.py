"""Prometheus metrics of one gateway. Own registry per gateway (tests build many); with several
uvicorn workers, `PROMETHEUS_MULTIPROC_DIR` (set by `payhooks gateway`) makes the scrape add up
every worker's numbers instead of showing whichever worker answered."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client itself, not by payhooks
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "payhooks_gateway_webhooks",
            "Webhook requests by provider and outcome.",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "payhooks_gateway_publish_seconds",
            "Time from produce to Kafka's delivery report.",
            ["topic_kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.payments = Counter(
            "payhooks_gateway_payment_initializations",
            "POST /payments by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
