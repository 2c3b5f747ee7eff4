"""The consumer's own HTTP listener: `/healthz`, `/readyz`, `/metrics` for kubelets and Prometheus.

`/healthz` (liveness): the worker loop beat within `liveness_seconds` (it beats on every poll and
on every connection attempt), so a wedged loop gets the process restarted but a consumer waiting
for Kafka does not. `/readyz` (readiness): connected to Kafka and a member of the group.
Served by the standard library's WSGI server in a daemon thread; the loop only writes two fields.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
import structlog
from prometheus_client import make_wsgi_app

log = structlog.get_logger("payhooks.consumer")

StartResponse = Callable[..., Any]


@dataclass
class Health:
    """What the probes report. Written by the worker loop, read by the HTTP thread."""

    liveness_seconds: float
    clock: Callable[[], float] = time.monotonic
    last_beat: float = field(default=0.0)
    member: bool = False

    def __post_init__(self) -> None:
        self.last_beat = self.clock()

    def beat(self, *, member: bool | None = None) -> None:
        self.last_beat = self.clock()
        if member is not None:
            self.member = member

    def alive(self) -> bool:
        return self.clock() - self.last_beat <= self.liveness_seconds

    def ready(self) -> bool:
        return self.member and self.alive()


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [orjson.dumps(body)]


def probes_app(health: Health) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            if health.alive():
                return _json(start_response, "200 OK", {"status": "ok"})
            return _json(start_response, "503 Service Unavailable", _error("loop_stalled"))
        if path == "/readyz":
            if health.ready():
                return _json(start_response, "200 OK", {"status": "ready"})
            return _json(start_response, "503 Service Unavailable", _error("not_ready"))
        if path == "/metrics":
            served: Iterable[bytes] = metrics(environ, start_response)
            return served
        return _json(start_response, "404 Not Found", _error("not_found"))

    return app


def _error(code: str) -> dict[str, Any]:
    messages = {
        "loop_stalled": "the consumer's poll loop has not run recently; restart the process",
        "not_ready": "not connected to Kafka or not a member of the consumer group yet",
        "not_found": "this listener serves /healthz, /readyz and /metrics",
    }
    return {"error": {"code": code, "message": messages[code]}}


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None  # kubelets probe every few seconds: no access log


def serve_probes(health: Health, host: str, port: int) -> WSGIServer:
    """Start the listener in a daemon thread; return the server (its `server_port` is bound)."""
    server = make_server(
        host, port, probes_app(health), server_class=_Server, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="consumer-probes", daemon=True)
    thread.start()
    log.info("consumer.probes_listening", host=host, port=server.server_port)
    return server
