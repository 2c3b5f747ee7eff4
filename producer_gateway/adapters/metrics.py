"""Prometheus metrics of one gateway. Own registry per gateway (tests build many); served on the
gateway's own `--metrics-port` listener (kernel/metrics_listener.py), never on the public one."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram

from kernel.metrics_listener import render

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
        self._counters: dict[tuple[str, str], Counter] = {}
        self._latencies: dict[str, Histogram] = {}

    def count(self, provider: str, outcome: str) -> None:
        """One webhook answered; each label set's child is looked up once (`labels()` takes a
        lock and checks the values every call)."""
        child = self._counters.get((provider, outcome))
        if child is None:
            child = self._counters[provider, outcome] = self.webhooks.labels(provider, outcome)
        child.inc()

    def published(self, topic_kind: str, seconds: float) -> None:
        child = self._latencies.get(topic_kind)
        if child is None:
            child = self._latencies[topic_kind] = self.publish_seconds.labels(topic_kind)
        child.observe(seconds)

    def render(self) -> bytes:
        return render(self.registry)
