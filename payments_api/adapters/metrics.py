"""Prometheus metrics of one api process. Own registry per instance (tests build many); served on
the api's own `--metrics-port` listener (kernel/metrics_listener.py)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter

from kernel.metrics_listener import render


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "payhooks_api_requests",
            "API requests by route, client and HTTP status.",
            ["route", "client", "status"],
            registry=self.registry,
        )
        self.payments = Counter(
            "payhooks_api_payment_initializations",
            "POST /payments by HTTP status.",
            ["outcome"],
            registry=self.registry,
        )
        self.unauthorized = Counter(
            "payhooks_api_unauthorized",
            "Requests refused for a missing, malformed or unknown token.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "payhooks_api_rate_limited",
            "Requests refused with 429, by client.",
            ["client"],
            registry=self.registry,
        )
        self.rate_limit_degraded = Counter(
            "payhooks_api_rate_limit_degraded",
            "Rate-limit checks made per process because Redis did not answer.",
            registry=self.registry,
        )
        self.keys_pruned = Counter(
            "payhooks_api_idempotency_keys_pruned",
            "Idempotency keys deleted after their retention.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return render(self.registry)
