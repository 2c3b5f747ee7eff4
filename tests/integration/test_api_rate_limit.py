"""The per-client rate limit is one bucket in Redis shared by every api replica: two real
`payhooks api` processes together allow a client its burst, not twice it; 429 + Retry-After
beyond; another client keeps its own bucket."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import httpx
import pytest

from payhooks_devtools.localnet import free_port, wait_http_ok
from tests.gateway_support import API_TOKEN, API_TOKENS, OTHER_TOKEN
from tests.helpers import payhooks_process

pytestmark = pytest.mark.integration
BURST = 6


def test_two_api_processes_share_each_clients_bucket(
    env_for: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **env_for,
        "PAYHOOKS_API_TOKENS": API_TOKENS,
        "PAYHOOKS_API_RATE_BURST": str(BURST),
        "PAYHOOKS_API_RATE_PER_SECOND": "0.01",  # no refill worth counting during the test
    }
    ports = [free_port(), free_port()]
    with (
        payhooks_process(["api", "--port", str(ports[0])], env, tmp_path / "api-1.log"),
        payhooks_process(["api", "--port", str(ports[1])], env, tmp_path / "api-2.log"),
    ):
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            wait_http_ok(f"{url}/readyz")

        # When one client sends twice its burst, alternating between the two replicas
        answers = [
            httpx.get(f"{url}/wallets/ada", headers={"Authorization": f"Bearer {API_TOKEN}"})
            for url in itertools.islice(itertools.cycle(urls), 2 * BURST)
        ]
        # and another client sends one request
        other = httpx.get(
            f"{urls[1]}/wallets/ada", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
        )

    # Then exactly the burst got through across both, the rest is 429 with Retry-After
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(404) == BURST, statuses  # through: no such wallet
    assert statuses.count(429) == BURST, statuses
    limited = [answer for answer in answers if answer.status_code == 429]
    assert all(int(answer.headers["retry-after"]) >= 1 for answer in limited)
    assert {answer.json()["error"]["code"] for answer in limited} == {"rate_limited"}
    assert other.status_code == 404  # its own bucket
    # And the token never reached a log line; the client's name did
    logs = (tmp_path / "api-1.log").read_text() + (tmp_path / "api-2.log").read_text()
    assert API_TOKEN not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    limited_lines = [line for line in lines if line["event"] == "api.rate_limited"]
    assert len(limited_lines) == BURST
    assert {line["client"] for line in limited_lines} == {"tests"}
