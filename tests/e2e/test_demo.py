"""`make demo` runs `payhooks demo`: credits, the duplicate absorbed, the forgery refused, the api
closed to a request without a token, the gateway to the payment routes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel.settings import Settings

pytestmark = pytest.mark.e2e


def test_demo_shows_credits_duplicate_forgery_a_swept_payment_and_a_refund(
    stack_settings: Settings,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "payhooks", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stderr
    assert done.returncode == 0, output[-2000:]
    assert output.count("→ HTTP 201") == 6
    assert "replayed=True" in output
    assert "duplicate webhook" in output
    assert "(provider retry)         → HTTP 202" in output
    forged = next(line for line in output.splitlines() if "forged webhook" in line)
    assert forged.endswith("→ HTTP 401")
    assert output.count("credited=True") == 5
    swept = next(line for line in output.splitlines() if "sweep (one pass)" in line)
    assert swept.endswith("→ claim published")
    refund = next(line for line in output.splitlines() if "  refund webhook" in line)
    assert refund.endswith("→ HTTP 202")
    assert output.count("partially_refunded") == 1
    assert "refunded=100000" in output
    anonymous = next(line for line in output.splitlines() if "no token" in line)
    assert anonymous.endswith("→ HTTP 401")
    public = next(line for line in output.splitlines() if "GET /wallets on gateway" in line)
    assert public.endswith("→ HTTP 404")
    assert "reconcile: OK" in output
