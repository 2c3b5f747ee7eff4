from __future__ import annotations

import pytest

from kernel.settings import Settings, parse_duration


def test_secrets_are_comma_separated_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYHOOKS_PAYSTACK_SECRET_KEY", "sk_new, sk_old")
    settings = Settings()
    assert settings.provider_secrets("paystack") == (b"sk_new", b"sk_old")
    assert "sk_new" not in repr(settings)
    assert settings.enabled_providers() == ("paystack",)


def test_retry_delays_read_as_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYHOOKS_RETRY_DELAYS", "5s,30s,2m,10m")
    assert Settings().retry_delays == (5.0, 30.0, 120.0, 600.0)


def test_sweep_back_off_and_consumed_records_retention_read_as_durations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().consumed_records_retention == 7 * 86_400.0
    assert (Settings().sweep_claim_backoff, Settings().sweep_claim_backoff_max) == (300.0, 3600.0)
    monkeypatch.setenv("PAYHOOKS_CONSUMED_RECORDS_RETENTION", "14d")
    monkeypatch.setenv("PAYHOOKS_SWEEP_CLAIM_BACKOFF", "2m")
    monkeypatch.setenv("PAYHOOKS_SWEEP_CLAIM_BACKOFF_MAX", "30m")
    settings = Settings()
    assert settings.consumed_records_retention == 14 * 86_400.0
    assert (settings.sweep_claim_backoff, settings.sweep_claim_backoff_max) == (120.0, 1800.0)


def test_defaults_match_the_contract() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.topic_prefix == "payments"
    assert settings.consumer_group == "payhooks-credit"


@pytest.mark.parametrize("text", ["", "fast", "5 parsecs", "-1s"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match=r"write e\.g\."):
        parse_duration(text)


def test_no_setting_injects_faults() -> None:
    # Fault injection is a test seam (tests/fault_consumer.py), never production configuration.
    assert not [name for name in Settings.model_fields if "fault" in name or "kill" in name]
