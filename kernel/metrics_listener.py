"""The Prometheus listener of `payhooks gateway`, `payhooks api` and `payhooks sweep`: its own
port (`--metrics-port`), never a route of the HTTP app: the public listener serves webhooks and
health only. (The consumer's listener serves its probes too: consumer/entrypoints/probes.py.)

One worker: the app serves its own registry from its process (`create_app`). Several uvicorn
workers: the CLI points prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, read by
the library itself when the workers import it) at a fresh directory before they start, and serves
the sum of every worker's numbers from the parent process.
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


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _aggregate() -> CollectorRegistry:
    registry = CollectorRegistry()
    # prometheus-client leaves this constructor unannotated.
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The exposition text: every worker's numbers in multiprocess mode, else this registry's."""
    if multiprocess_mode():
        return generate_latest(_aggregate())
    return generate_latest(registry)


def serve_metrics(host: str, port: int, registry: CollectorRegistry | None = None) -> None:
    """Serve `registry` (None: every worker's numbers added up) on host:port, in a daemon thread
    of this process."""
    start_http_server(port, addr=host, registry=registry or _aggregate())
