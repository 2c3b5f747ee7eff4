"""The two HTTP processes as deployed: `payhooks gateway` and `payhooks api`, each with its
metrics on its own `--metrics-port` listener (never on the public/API port), and `payhooks api`
refusing to start on a malformed PAYHOOKS_API_TOKENS with one line that never shows a token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from payhooks_devtools.localnet import free_port, wait_http_ok
from tests.conftest import PAYSTACK_SECRET
from tests.gateway_support import API_TOKEN, API_TOKENS
from tests.helpers import payhooks_process, paystack_body, signed_headers

pytestmark = pytest.mark.e2e


def test_metrics_live_on_their_own_listeners_and_the_gateway_needs_no_database(
    env_for: dict[str, str], topics: tuple[str, ...], tmp_path: Path
) -> None:
    ports = {name: free_port() for name in ("gateway", "gw-metrics", "api", "api-metrics")}
    env = {**env_for, "PAYHOOKS_API_TOKENS": API_TOKENS}
    # The gateway has no database connection at all: a database it cannot reach changes nothing.
    gateway_env = {
        **env,
        "PAYHOOKS_DATABASE_URL": f"postgresql+psycopg2://x@127.0.0.1:{free_port()}/x",
    }
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    api = f"http://127.0.0.1:{ports['api']}"
    with (
        payhooks_process(
            [
                "gateway",
                "--port",
                str(ports["gateway"]),
                "--metrics-port",
                str(ports["gw-metrics"]),
            ],
            gateway_env,
            tmp_path / "gateway.log",
        ),
        payhooks_process(
            ["api", "--port", str(ports["api"]), "--metrics-port", str(ports["api-metrics"])],
            env,
            tmp_path / "api.log",
        ),
    ):
        wait_http_ok(f"{gateway}/readyz")
        wait_http_ok(f"{api}/readyz")
        body = paystack_body("ref-metrics", 100)
        accepted = httpx.post(
            f"{gateway}/webhooks/paystack",
            content=body,
            headers=signed_headers("paystack", body, PAYSTACK_SECRET),
        )
        wallet = httpx.get(f"{api}/wallets/ada", headers={"Authorization": f"Bearer {API_TOKEN}"})
        refused = httpx.get(f"{api}/wallets/ada")
        gateway_metrics = httpx.get(f"http://127.0.0.1:{ports['gw-metrics']}/metrics").text
        api_metrics = httpx.get(f"http://127.0.0.1:{ports['api-metrics']}/metrics").text
        public_metrics = httpx.get(f"{gateway}/metrics")
        api_port_metrics = httpx.get(f"{api}/metrics")

    assert (accepted.status_code, wallet.status_code, refused.status_code) == (202, 404, 401)
    assert 'payhooks_gateway_webhooks_total{outcome="accepted",provider="paystack"} 1.0' in (
        gateway_metrics
    )
    assert 'payhooks_api_requests_total{client="tests",route="wallet",status="404"} 1.0' in (
        api_metrics
    )
    assert "payhooks_api_unauthorized_total 1.0" in api_metrics
    assert (public_metrics.status_code, api_port_metrics.status_code) == (404, 404)


@pytest.mark.parametrize(
    ("tokens", "says"),
    [
        ("shop-no-colon-0123456789", "entry 1 is not <client-name>:<token>"),
        ("shop:short", "the token of client 'shop' (entry 1) must be 16 to 512"),
    ],
)
def test_a_malformed_token_list_stops_the_api_with_one_line(
    env_for: dict[str, str], tokens: str, says: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "payhooks", "api", "--port", str(free_port())],
        env={**env_for, "PAYHOOKS_API_TOKENS": tokens},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"error: PAYHOOKS_API_TOKENS: {says}")
    secret = tokens.partition(":")[2]
    assert not secret or secret not in line


def test_the_gateway_code_imports_no_database_client() -> None:
    # The split is structural: the gateway's modules do not even import a database client.
    probe = (
        "import sys, producer_gateway.bootstrap, producer_gateway.entrypoints.app; "
        "print(sorted(m for m in ('sqlalchemy', 'psycopg2', 'redis', 'payments_api') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
