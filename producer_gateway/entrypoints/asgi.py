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


def create_app() -> object:
    """uvicorn factory (`--factory`): settings from the environment, one gateway per process."""
    settings = GatewaySettings()
    configure_logging(settings.log_format)
    gateway = bootstrap(settings)
    port = settings.gateway_metrics_port
    if port is not None and not multiprocess_mode():
        serve_metrics(settings.metrics_host, port, gateway.metrics.registry)
    app = build_app(gateway)
    tune_gc()
    return app
