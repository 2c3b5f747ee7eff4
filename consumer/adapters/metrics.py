"""The consumer's Prometheus metrics (prometheus-client), served on `--metrics-port` if given."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram


@dataclass(frozen=True)
class ConsumerMetrics:
    events: Counter
    credit_seconds: Histogram
    batch_size: Histogram
    rebalances: Counter
    lock_degraded: Counter
    lag: Gauge
    retry_waiting: Gauge
    negative_wallets: Counter
    transactions_abandoned: Counter
    kafka_recovery_seconds: Histogram
    provider_mismatch: Counter


METRICS = ConsumerMetrics(
    events=Counter(
        "payhooks_consumer_events_total",
        "Webhook events by outcome (applied, reversed, duplicate, ignored, rejected, retry, dlq).",
        ["outcome"],
    ),
    credit_seconds=Histogram(
        "payhooks_consumer_credit_seconds",
        "Time to settle one consumed batch: the locks not taken ahead, credits, commit, release.",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    ),
    batch_size=Histogram(
        "payhooks_consumer_batch_size",
        "Records per consumed batch.",
        buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
    ),
    rebalances=Counter(
        "payhooks_consumer_rebalances_total",
        "Partition assignment changes seen by this member.",
        ["kind"],
    ),
    lock_degraded=Counter(
        "payhooks_consumer_lock_degraded_total",
        "Times Redis was unreachable and credits fell back to database-only locking.",
    ),
    lag=Gauge(
        "payhooks_consumer_lag",
        "Records of an assigned partition not yet settled and committed by this member "
        "(last stable offset minus committed offset).",
        ["topic", "partition"],
    ),
    retry_waiting=Gauge(
        "payhooks_consumer_retry_waiting",
        "Records waiting in a retry topic (its assigned partitions' lag, summed per topic).",
        ["topic"],
    ),
    negative_wallets=Counter(
        "payhooks_consumer_negative_wallet_reversals_total",
        "Refunds / lost disputes that left their wallet below zero (the money had been spent).",
    ),
    transactions_abandoned=Counter(
        "payhooks_consumer_transactions_abandoned_total",
        "Kafka transactions given up (broker away, abortable or fatal error); batch re-consumed.",
    ),
    kafka_recovery_seconds=Histogram(
        "payhooks_consumer_kafka_recovery_seconds",
        "From an abandoned Kafka transaction to the consumer working again.",
        buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
    ),
    provider_mismatch=Counter(
        "payhooks_consumer_provider_mismatch_total",
        "Events refused because another provider (or provider transaction) than the payment's "
        "sent them: forgery attempts or misrouted webhooks (docs/security.md).",
    ),
)
