"""The Prometheus listener of `payhooks gateway` and `payhooks api`: its own port
(`--metrics-port`), never a route of the HTTP app: the public listener serves webhooks and
health only.

The CLI points prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, read by the
library itself) at a fresh directory, then serves the sum of every uvicorn worker's numbers.
"""

from __future__ import annotations

import os
import tempfile

from prometheus_client import CollectorRegistry, generate_latest, multiprocess, start_http_server

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_dir() -> None:
    """Every worker writes its numbers under one directory (a fresh one unless already set)."""
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="payhooks-metrics-")


def _aggregate() -> CollectorRegistry:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The exposition text: every worker's numbers in multiprocess mode, else this registry's."""
    if os.environ.get(MULTIPROC_ENV):
        return generate_latest(_aggregate())
    return generate_latest(registry)


def serve_metrics(host: str, port: int) -> None:
    """Serve the aggregated metrics on host:port, in a daemon thread of this process."""
    use_multiprocess_dir()
    start_http_server(port, addr=host, registry=_aggregate())
