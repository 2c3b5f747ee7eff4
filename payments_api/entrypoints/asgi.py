"""The api's composition root for uvicorn:
`uvicorn --factory payments_api.entrypoints.asgi:create_app`.

uvicorn workers are fresh processes, so each builds its settings from the environment. One worker
serves its own metrics listener; several add theirs up on the CLI's (kernel/metrics_listener.py).
"""

from __future__ import annotations

from kernel.logs import configure_logging
from kernel.metrics_listener import multiprocess_mode, serve_metrics
from payments_api.bootstrap import bootstrap
from payments_api.entrypoints.app import build_app
from payments_api.settings import ApiSettings


def create_app() -> object:
    """uvicorn factory (`--factory`): settings from the environment, one api per process."""
    settings = ApiSettings()
    configure_logging(settings.log_format)
    api = bootstrap(settings)
    if settings.api_metrics_port is not None and not multiprocess_mode():
        serve_metrics(settings.metrics_host, settings.api_metrics_port, api.metrics.registry)
    return build_app(api)
