"""`make demo` runs `payhooks demo`: credits, the duplicate absorbed, the forgery refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from payhooks.settings import Settings

pytestmark = pytest.mark.e2e


def test_demo_shows_credits_duplicate_and_forgery(stack_settings: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "payhooks", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stderr
    assert done.returncode == 0, output[-2000:]
    assert output.count("→ HTTP 201") == 5
    assert "replayed=True" in output
    assert "duplicate webhook" in output
    assert "(provider retry)         → HTTP 202" in output
    forged = next(line for line in output.splitlines() if "forged webhook" in line)
    assert forged.endswith("→ HTTP 401")
    assert output.count("credited=True") == 4
    assert "reconcile: OK" in output
