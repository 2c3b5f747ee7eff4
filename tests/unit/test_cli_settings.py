"""Each process command builds its own settings class (docs/architecture.md, "Settings"): what it
is handed is that class, and a variable it does not read cannot stop it."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

import consumer.entrypoints.run
import kernel.logs
import kernel.metrics_listener
import operations.sweep
from consumer.settings import ConsumerSettings
from operations.settings import SweepSettings
from payhooks import cli
from payments_api.settings import ApiSettings
from producer_gateway.settings import GatewaySettings


class Handed(Exception):
    """The command handed its settings over; the stubs stop it there (not an error)."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(type(settings).__name__)
        self.settings = settings


def _hand_over(settings: BaseSettings, *_: Any, **__: Any) -> None:
    raise Handed(settings)


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is served, connected or logged: each command stops where it hands its settings."""
    monkeypatch.setattr(kernel.logs, "configure_logging", lambda *_: None)
    monkeypatch.setattr(cli, "_refused_by_kafka", lambda *_: None)
    monkeypatch.setattr(cli, "_topics_if_kafka_answers", lambda *_: None)
    monkeypatch.setattr(cli, "_serve_http", lambda _factory, settings, **_: _hand_over(settings))
    monkeypatch.setattr(consumer.entrypoints.run, "run_consumer", _hand_over)
    monkeypatch.setattr(operations.sweep, "build_sweeper", _hand_over)
    # a variable only the consumer reads, and invalid
    monkeypatch.setenv("PAYHOOKS_CONSUMER_BATCH_SIZE", "0")


@pytest.mark.usefixtures("handed")
@pytest.mark.parametrize(
    ("command", "kind"),
    [("gateway", GatewaySettings), ("api", ApiSettings), ("sweep", SweepSettings)],
)
def test_a_process_command_builds_its_own_class_and_ignores_others_variables(
    command: str, kind: type[BaseSettings]
) -> None:
    result = CliRunner().invoke(cli.app, [command])

    assert isinstance(result.exception, Handed), result.output
    assert type(result.exception.settings) is kind


@pytest.mark.usefixtures("handed")
def test_the_consumer_command_refuses_the_invalid_variable_it_reads() -> None:
    result = CliRunner().invoke(cli.app, ["consumer"])

    assert isinstance(result.exception, ValidationError)
    assert "consumer_batch_size" in str(result.exception)


@pytest.mark.usefixtures("handed")
def test_the_consumer_command_builds_its_own_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYHOOKS_CONSUMER_BATCH_SIZE")

    result = CliRunner().invoke(cli.app, ["consumer", "--group", "g-1"])

    assert isinstance(result.exception, Handed), result.output
    settings = result.exception.settings
    assert type(settings) is ConsumerSettings
    assert settings.consumer_group == "g-1"  # the flag on top of the environment


@pytest.mark.usefixtures("handed")
def test_the_sweep_serves_its_metrics_where_its_flags_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a metrics listener that only records where it was asked to serve
    served: list[tuple[str, int, object]] = []
    monkeypatch.setattr(
        kernel.metrics_listener,
        "serve_metrics",
        lambda host, port, registry: served.append((host, port, registry)),
    )

    # When the sweep starts with both metrics flags
    argv = ["sweep", "--metrics-port", "9109", "--metrics-host", "10.0.0.7"]
    result = CliRunner().invoke(cli.app, argv)

    # Then its settings carry them and its counters are served there, like every process's
    assert isinstance(result.exception, Handed), result.output
    settings = result.exception.settings
    assert isinstance(settings, SweepSettings)
    assert settings.metrics_host == "10.0.0.7"
    assert served == [("10.0.0.7", 9109, REGISTRY)]
