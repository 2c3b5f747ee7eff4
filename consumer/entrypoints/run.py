"""The consumer's composition root: what `payhooks consumer` runs, and what tests call.

Logging, the probes/metrics listener, the credit app, and the worker loop until SIGTERM/SIGINT.
"""

from __future__ import annotations

import sys

from consumer.bootstrap import bootstrap
from consumer.entrypoints.probes import Health, serve_probes
from consumer.entrypoints.worker import main as run_worker
from consumer.settings import ConsumerSettings
from kernel.config_checks import check_config
from kernel.gc_tuning import tune_gc
from kernel.kafka_client import check_connection
from kernel.logs import configure_logging
from kernel.settings import TopicSettings
from kernel.topics import require_topics

# The settle thread spends a batch waiting on PostgreSQL, Redis and Kafka while the polling
# thread decodes the next batch; each time a wait ends it needs the GIL back, and the decoding
# thread gives it up only every switch interval (5 ms by default): up to 5 ms lost per round
# trip, several per batch. 0.5 ms bounds that (same-sitting drains, README Benchmarks).
SETTLE_SWITCH_INTERVAL_SECONDS = 0.0005


def run_consumer(settings: ConsumerSettings) -> None:
    """One member of the credit consumer group, until it is told to stop."""
    configure_logging(settings.log_format)
    check_config(settings)
    health = Health(liveness_seconds=settings.consumer_liveness_seconds)
    if settings.consumer_metrics_port is not None:
        serve_probes(health, settings.metrics_host, settings.consumer_metrics_port)
    credit_app = bootstrap(settings)
    tune_gc()  # after start-up: what it built is frozen out of later collections
    sys.setswitchinterval(SETTLE_SWITCH_INTERVAL_SECONDS)
    try:
        # Topics are checked inside the worker's connection retries: Kafka may not answer yet.
        run_worker(credit_app, health, prepare=lambda: prepare(settings))
    finally:
        credit_app.close()


def prepare(settings: TopicSettings) -> None:
    """Refused credentials / TLS end the process with one line; a Kafka that is merely down is
    retried by the worker. Then the topics must exist."""
    check_connection(settings, "consumer", timeout=5.0, refusal_only=True)
    require_topics(settings, timeout=10.0)
