"""Each deployable reads its own settings class (docs/architecture.md, "Settings"): composed from
the kernel's field groups, with only the fields that process uses; the same variables, defaults
and validation as the union `Settings` the operations commands and tests use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from consumer.settings import ConsumerSettings
from kernel import settings as groups
from kernel.settings import Settings
from operations.settings import SweepSettings
from payments_api.settings import ApiSettings
from producer_gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYABLES: tuple[type[BaseSettings], ...] = (GatewaySettings, ApiSettings, ConsumerSettings)
# The long-running processes: the deployables and the sweep.
PROCESSES: tuple[type[BaseSettings], ...] = (*DEPLOYABLES, SweepSettings)


def fields(group: type[BaseSettings]) -> set[str]:
    return set(group.model_fields)


def test_the_gateway_reads_no_database_redis_provider_api_nor_api_clients() -> None:
    gateway = fields(GatewaySettings)
    assert "database_url" not in gateway
    assert "redis_url" not in gateway
    assert not gateway & fields(groups.ProviderApiSettings) - fields(groups.PaystackKeySettings)
    assert not gateway & (fields(groups.ApiKnobs) | fields(groups.ConsumerKnobs))
    assert not gateway & fields(groups.CreditLockSettings) - {"topic_prefix", "redis_url"}


def test_the_api_reads_no_kafka_no_topics_and_no_webhook_secret_but_paystacks() -> None:
    api = fields(ApiSettings)
    assert not api & fields(groups.KafkaClientSettings)
    assert not api & (fields(groups.TopicSettings) - {"topic_prefix"})  # its Redis keys' prefix
    assert api & fields(groups.WebhookSecretsSettings) == {"paystack_secret_key"}  # its API key
    assert not api & (fields(groups.GatewayKnobs) | fields(groups.ConsumerKnobs))


def test_the_consumer_reads_no_http_listener_nor_api_clients() -> None:
    consumer = fields(ConsumerSettings)
    assert not consumer & (fields(groups.HttpListenerSettings) - fields(groups.ProcessSettings))
    assert not consumer & (fields(groups.ApiKnobs) | fields(groups.GatewayKnobs))


def test_the_sweep_reads_no_redis_no_topic_layout_nor_webhook_secret_but_paystacks() -> None:
    sweep = fields(SweepSettings)
    topic_layout = fields(groups.TopicSettings) - fields(groups.KafkaClientSettings)
    assert "redis_url" not in sweep
    assert sweep & topic_layout == {"topic_prefix"}  # it publishes to the main topic
    assert sweep & fields(groups.WebhookSecretsSettings) == {"paystack_secret_key"}  # API key


def test_no_deployable_reads_the_operations_or_dev_tooling_knobs() -> None:
    others = fields(groups.SweepKnobs) | fields(groups.ReconcileKnobs) | fields(groups.DevToolKnobs)
    for deployable in DEPLOYABLES:
        assert not fields(deployable) & others, deployable.__name__


@pytest.mark.parametrize("deployable", PROCESSES, ids=lambda cls: cls.__name__)
def test_a_deployables_fields_are_the_union_settings_own(deployable: type[BaseSettings]) -> None:
    # Same variable, same default, same constraints and parsing: one definition, in a group.
    assert all(issubclass(Settings, group) for group in deployable.__bases__)
    for name, field in deployable.model_fields.items():
        assert repr(field) == repr(Settings.model_fields[name]), name


def test_every_setting_is_read_by_a_deployable_or_an_operations_or_dev_command() -> None:
    read = set().union(*(fields(process) for process in PROCESSES))
    read |= fields(groups.ReconcileKnobs) | fields(groups.DevToolKnobs)
    assert read == fields(Settings)


def test_a_deployable_reads_its_variables_and_ignores_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a consumer-only variable that is invalid, and one the gateway reads
    monkeypatch.setenv("PAYHOOKS_CONSUMER_BATCH_SIZE", "0")
    monkeypatch.setenv("PAYHOOKS_RETRY_DELAYS", "1s,2m")
    monkeypatch.setenv("PAYHOOKS_STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")

    # Then the gateway starts with what it reads, parsed as before
    gateway = GatewaySettings()
    assert gateway.retry_delays == (1.0, 120.0)
    assert gateway.provider_secrets("stripe") == (b"whsec_new", b"whsec_old")
    # and the consumer, which reads it, refuses it, naming the field
    with pytest.raises(ValidationError, match="consumer_batch_size"):
        ConsumerSettings()


@pytest.mark.parametrize("deployable", PROCESSES, ids=lambda cls: cls.__name__)
def test_defaults_match_the_contract_in_every_deployable(deployable: type[BaseSettings]) -> None:
    contract = {
        "kafka_bootstrap": "127.0.0.1:9092",
        "redis_url": "redis://127.0.0.1:6379/0",
        "topic_prefix": "payments",
        "consumer_group": "payhooks-credit",
        "retry_delays": (5.0, 30.0, 120.0, 600.0),
    }
    settings = deployable()
    for name, value in contract.items():
        if name in deployable.model_fields:
            assert getattr(settings, name) == value, name


def test_no_deployable_module_imports_the_union_settings() -> None:
    # mypy keeps a deployable to the fields its class declares only while it is typed with it
    paths = [
        path
        for package in ("producer_gateway", "payments_api", "consumer")
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    wide = [str(path.relative_to(ROOT)) for path in paths if _imports_the_union(path)]
    assert not wide


def _imports_the_union(path: Path) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "kernel.settings"
        and "Settings" in {alias.name for alias in node.names}
        for node in ast.walk(ast.parse(path.read_text()))
    )
