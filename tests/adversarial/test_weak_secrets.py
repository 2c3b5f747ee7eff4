"""Item 5, weak secrets: `whsec_` (an empty key) was accepted and a webhook signed with an empty
key got 202; a Standard secret that is not base64 was dropped silently. Now every secret is
checked at start (known format, minimum length): an invalid one stops the process with exit
≠ 0 and one line naming the variable and the problem, never the value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.gateway_support import FIELDS, SECRETS

pytestmark = pytest.mark.integration

CASES = [
    ("PAYHOOKS_STANDARD_WEBHOOK_SECRET", "whsec_", "bytes"),
    ("PAYHOOKS_STANDARD_WEBHOOK_SECRET", "whsec_Zm9vYmFy!!not-base64", "base64"),
    ("PAYHOOKS_STANDARD_WEBHOOK_SECRET", "whsec_c2hvcnQta2V5", "bytes"),  # 9 bytes
    ("PAYHOOKS_STRIPE_WEBHOOK_SECRET", "whsec_tooShortKey", "too short"),
    ("PAYHOOKS_STRIPE_WEBHOOK_SECRET", "sk_live_notAnEndpointSecret1234567890", "not a Stripe"),
    ("PAYHOOKS_PAYSTACK_SECRET_KEY", "pk_test_publicKeyNotSecret1234567890", "not a Paystack"),
    ("PAYHOOKS_FLUTTERWAVE_SECRET_HASH", "hunter2", "too short"),
]


@pytest.mark.parametrize(
    ("command", "variable", "value", "problem"),
    [("gateway", *case) for case in CASES] + [("consumer", *CASES[0])],
)
def test_an_invalid_secret_stops_the_process_with_one_line_naming_it(
    env_for: dict[str, str], command: str, variable: str, value: str, problem: str
) -> None:
    # Given a valid configuration but for one secret (the second of a rotation pair)
    env = {**env_for, variable: f"{_valid(variable)},{value}"}

    # When the process starts
    done = subprocess.run(
        [sys.executable, "-m", "payhooks", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it exits at once, naming the variable, which secret, and the problem; not the value
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {variable} (secret 2 of 2)"), line
    assert problem in line
    secret_part = value.removeprefix("whsec_")
    assert not secret_part or secret_part not in done.stderr + done.stdout


def _valid(variable: str) -> str:

    provider = next(p for p, field in FIELDS.items() if field.upper() in variable)
    return SECRETS[provider]
