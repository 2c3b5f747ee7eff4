"""The gateway's composition root for uvicorn:
`uvicorn --factory producer_gateway.entrypoints.asgi:create_app`.

uvicorn workers are fresh processes, so each builds its settings from the environment. One worker
serves its own metrics listener; several add theirs up on the CLI's (kernel/metrics_listener.py).
"""

from __future__ import annotations

from kernel.gc_tuning import tune_gc
from kernel.logs import configure_logging
from kernel.metrics_listener import multiprocess_mode, serve_metrics
from producer_gateway.bootstrap import bootstrap
from producer_gateway.entrypoints.app import build_app
from producer_gateway.settings import GatewaySettings

# Under load the in-flight requests keep thousands of young objects alive and each collection of
# the youngest generation walks them: one every 100,000 allocations instead of 20,000 saved
# ~10 us of CPU per webhook (7-16, paired same-sitting A/B, README "Benchmarks"). What a webhook
# allocates is freed by reference counting; only rare cyclic garbage waits longer.
GATEWAY_YOUNG_GC_THRESHOLD = 100_000


def create_app() -> object:
    """uvicorn factory (`--factory`): settings from the environment, one gateway per process."""
    settings = GatewaySettings()
    configure_logging(settings.log_format)
    gateway = bootstrap(settings)
    port = settings.gateway_metrics_port
    if port is not None and not multiprocess_mode():
        serve_metrics(settings.metrics_host, port, gateway.metrics.registry)
    app = build_app(gateway)
    tune_gc(GATEWAY_YOUNG_GC_THRESHOLD)
    return app
