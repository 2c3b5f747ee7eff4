"""docker-compose.yml stays consistent with the code (no Docker engine runs on our machines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from consumer.settings import ConsumerSettings
from kernel.settings import DatabaseSettings, Settings
from operations.settings import SweepSettings
from payments_api.settings import ApiSettings
from producer_gateway.settings import GatewaySettings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_the_stack_gateway_api_and_two_consumers_are_defined() -> None:
    services = load()["services"]
    expected = {"kafka", "postgres", "redis", "gateway", "api", "consumer-1", "consumer-2", "sweep"}
    assert expected <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_dependency_names_a_defined_service() -> None:
    services = load()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_every_payhooks_variable_is_a_real_setting() -> None:
    environment = load()["x-payhooks-env"]
    fields = {f"PAYHOOKS_{name.upper()}" for name in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields


def test_every_payhooks_variable_is_read_by_a_process_compose_runs() -> None:
    # The services share one environment; each process reads its own class out of it.
    environment = load()["x-payhooks-env"]
    runs: dict[str, type[BaseSettings]] = {
        "db": DatabaseSettings,
        "gateway": GatewaySettings,
        "api": ApiSettings,
        "consumer": ConsumerSettings,
        "sweep": SweepSettings,
    }
    kinds = {runs[service["command"][1]] for service in _payhooks_services()}
    assert kinds == set(runs.values())
    read = {f"PAYHOOKS_{name.upper()}" for kind in kinds for name in kind.model_fields}
    assert set(environment) <= read, set(environment) - read


def test_every_secret_the_api_and_the_consumer_read_is_passed_through() -> None:
    # A provider key missing here silently turns a provider off (or, for the consumer, makes
    # every hash-only success unconfirmable); each is passed through from the host, empty = none.
    environment = load()["x-payhooks-env"]
    secrets = {
        f"PAYHOOKS_{name.upper()}"
        for kind in (ApiSettings, ConsumerSettings)
        for name, field in kind.model_fields.items()
        if "SecretStr" in str(field.annotation)
    } - {"PAYHOOKS_KAFKA_SASL_PASSWORD"}  # compose's Kafka is plaintext, no SASL
    assert secrets <= set(environment), secrets - set(environment)
    for name in secrets:
        assert environment[name] == f"${{{name}:-}}", name


def _payhooks_services() -> list[dict[str, Any]]:
    services = load()["services"].values()
    return [service for service in services if service.get("command", [""])[0] == "payhooks"]


def test_processes_run_real_payhooks_commands() -> None:
    services = load()["services"]
    assert services["gateway"]["command"][:2] == ["payhooks", "gateway"]
    assert services["api"]["command"][:2] == ["payhooks", "api"]


def test_only_the_gateway_port_is_published_beyond_this_host() -> None:
    services = load()["services"]
    assert services["gateway"]["ports"] == ["8080:8080"]
    assert all(port.startswith("127.0.0.1:") for port in services["api"]["ports"])
    assert services["consumer-1"]["command"] == ["payhooks", "consumer"]
    assert services["migrate"]["command"] == ["payhooks", "db", "upgrade"]


def test_every_long_running_payhooks_service_has_a_health_check_on_its_own_port() -> None:
    # The image's HEALTHCHECK probes the gateway's port; the others must say where they answer.
    services = load()["services"]
    for name in ("api", "consumer-1", "consumer-2", "sweep"):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:" in probe, name
    assert "8081" in " ".join(services["api"]["healthcheck"]["test"])
    assert "9102" in " ".join(services["sweep"]["healthcheck"]["test"])
    assert services["sweep"]["command"][-2:] == ["--metrics-port", "9102"]
