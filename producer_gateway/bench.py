"""Gateway throughput and latency next to a bare "hello" endpoint, same server, same run.

    python -m producer_gateway.bench [--connections 64] [--seconds 10] [--repetitions 3]

Both run under uvicorn with the same worker count; runs alternate baseline / subject so drift on
a shared machine hits both. The subject is POST /webhooks/paystack with a genuine signature on a
fixed body (Paystack has no timestamp, so one signature serves every request); each 202 means
Kafka acknowledged the event (acks=all). The load generator is `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from payhooks.settings import Settings
from payhooks.simulator.events import webhook_body
from payhooks.topics import ensure_topics
from schemas.providers import SCHEMES

HELLO_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def hello(_):
    return PlainTextResponse("hello")

app = Starlette(routes=[Route("/hello", hello, methods=["GET", "POST"])])
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status))
end
"""


@dataclass(frozen=True)
class Run:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{command[2:4]} did not become ready")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wrk(url: str, script: Path, connections: int, seconds: int, name: str) -> Run:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if match is None:
        raise RuntimeError(f"wrk said: {out}")
    requests, duration_us, p50, p99, errors = map(int, match.groups())
    return Run(name, requests / (duration_us / 1e6), p50 / 1000, p99 / 1000, errors)


def _lua_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path.write_text(WRK_SCRIPT.format(body=json.dumps(body.decode()), headers=lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (apt-get install wrk)")

    secret = "sk_bench_" + uuid.uuid4().hex[:8]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(topic_prefix=prefix, topic_partitions=3)
    ensure_topics(settings)
    env = {
        **os.environ,
        "PAYHOOKS_TOPIC_PREFIX": prefix,
        "PAYHOOKS_PAYSTACK_SECRET_KEY": secret,
        "PAYHOOKS_LOG_FORMAT": "json",
    }
    body = webhook_body("paystack", "bench-ref", 100_000, "NGN")
    headers = {
        **SCHEMES["paystack"].sign(body, secret.encode(), now=0, event_id=""),
        "content-type": "application/json",
    }

    gateway_port, hello_port = _free_port(), _free_port()
    work = Path(tempfile.mkdtemp(prefix="payhooks-bench-"))
    (work / "hello_app.py").write_text(HELLO_APP)
    subject_lua = _lua_script(work / "subject.lua", body, headers)
    baseline_lua = _lua_script(work / "baseline.lua", body, {"content-type": "application/json"})
    python = sys.executable
    gateway_cmd = [
        python,
        "-m",
        "payhooks",
        "gateway",
        "--port",
        str(gateway_port),
        "--workers",
        str(args.workers),
    ]
    hello_cmd = [
        python,
        "-m",
        "uvicorn",
        "hello_app:app",
        "--port",
        str(hello_port),
        "--workers",
        str(args.workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--app-dir",
        str(work),
    ]
    runs: list[Run] = []
    with (
        _server(gateway_cmd, env, f"http://127.0.0.1:{gateway_port}/readyz"),
        _server(hello_cmd, env, f"http://127.0.0.1:{hello_port}/hello"),
    ):
        for _ in range(args.repetitions):
            runs.append(
                _wrk(
                    f"http://127.0.0.1:{hello_port}/hello",
                    baseline_lua,
                    args.connections,
                    args.seconds,
                    "hello",
                )
            )
            runs.append(
                _wrk(
                    f"http://127.0.0.1:{gateway_port}/webhooks/paystack",
                    subject_lua,
                    args.connections,
                    args.seconds,
                    "gateway",
                )
            )
    _report(runs, args)


def _report(runs: list[Run], args: argparse.Namespace) -> None:
    for run in runs:
        print(
            f"{run.name:<8} {run.requests_per_second:9.0f} req/s  p50 {run.p50_ms:7.2f} ms  "
            f"p99 {run.p99_ms:7.2f} ms  non-2xx {run.non_2xx}"
        )
    summary: dict[str, dict[str, float]] = {}
    for name in ("hello", "gateway"):
        mine = [r for r in runs if r.name == name]
        summary[name] = {
            "req_per_s": statistics.median(r.requests_per_second for r in mine),
            "p50_ms": statistics.median(r.p50_ms for r in mine),
            "p99_ms": statistics.median(r.p99_ms for r in mine),
            "non_2xx": sum(r.non_2xx for r in mine),
        }
    ratio = summary["gateway"]["req_per_s"] / summary["hello"]["req_per_s"]
    document = {
        "connections": args.connections,
        "workers": args.workers,
        "seconds": args.seconds,
        "repetitions": args.repetitions,
        **summary,
        "throughput_ratio_gateway_over_hello": round(ratio, 3),
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
