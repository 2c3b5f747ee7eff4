"""Secrets checked at start: known format and minimum length per provider, by position in a
rotation list; hash-only providers must be confirmed. Messages never carry the value."""

from __future__ import annotations

import base64

import pytest

from kernel.config_checks import ConfigInvalid, check_config, config_problems
from kernel.settings import Settings

GOOD = {
    "paystack_secret_key": "sk_live_" + "a1" * 20,
    "stripe_webhook_secret": "whsec_" + "b2" * 16,
    "flutterwave_secret_hash": "flw-hash-0123456789",
    "standard_webhook_secret": "whsec_" + base64.b64encode(bytes(range(24))).decode(),
}


def test_good_secrets_pass() -> None:
    assert config_problems(Settings.model_validate(GOOD)) == []


@pytest.mark.parametrize(
    ("field", "bad", "variable"),
    [
        ("standard_webhook_secret", "whsec_", "PAYHOOKS_STANDARD_WEBHOOK_SECRET"),
        ("standard_webhook_secret", "whsec_***", "PAYHOOKS_STANDARD_WEBHOOK_SECRET"),
        ("stripe_webhook_secret", "whsec_x", "PAYHOOKS_STRIPE_WEBHOOK_SECRET"),
        ("paystack_secret_key", "sk_test_short", "PAYHOOKS_PAYSTACK_SECRET_KEY"),
        ("flutterwave_secret_hash", "tiny-hash", "PAYHOOKS_FLUTTERWAVE_SECRET_HASH"),
    ],
)
def test_each_bad_secret_is_one_line_naming_the_variable_not_the_value(
    field: str, bad: str, variable: str
) -> None:
    settings = Settings.model_validate({**GOOD, field: bad})
    with pytest.raises(ConfigInvalid) as caught:
        check_config(settings)
    assert str(caught.value).startswith(variable)
    assert "\n" not in str(caught.value)
    assert bad.removeprefix("whsec_") not in str(caught.value) or bad == "whsec_"


def test_hash_only_flutterwave_must_be_confirmed_unless_a_signature_is_required() -> None:
    unconfirmed = Settings.model_validate({**GOOD, "confirm_with_provider": "none"})
    signed_only = unconfirmed.model_copy(update={"flutterwave_require_signature": True})
    assert [p for p in config_problems(unconfirmed) if "CONFIRM_WITH_PROVIDER" in p]
    assert config_problems(signed_only) == []
    assert Settings.model_validate(GOOD).confirmed_providers() == {"flutterwave"}
    assert signed_only.confirmed_providers() == frozenset()
