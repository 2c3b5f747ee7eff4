"""The flags several `payhooks` commands share, each mirroring a `PAYHOOKS_*` variable.

Here in the kernel so the runtime CLI (`payhooks.cli`) and the dev tooling's commands
(`payhooks_devtools.cli`) declare them once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic_settings import BaseSettings

from kernel.settings import Settings

S = TypeVar("S", bound=BaseSettings)

KafkaOpt = Annotated[
    str | None,
    typer.Option("--kafka-bootstrap", envvar="PAYHOOKS_KAFKA_BOOTSTRAP", help="Kafka servers."),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database-url", envvar="PAYHOOKS_DATABASE_URL", help="PostgreSQL URL."),
]
RedisOpt = Annotated[
    str | None, typer.Option("--redis-url", envvar="PAYHOOKS_REDIS_URL", help="Redis URL.")
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--topic-prefix", envvar="PAYHOOKS_TOPIC_PREFIX", help="Prefix of every topic."),
]
StateOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="PAYHOOKS_STATE_DIR", help="Where the local stack lives."),
]


def settings_of(kind: type[S], **overrides: Any) -> S:
    """A settings class (a deployable's, or a group) from the environment, with the flags that
    were given on top."""
    return kind(**{key: value for key, value in overrides.items() if value is not None})


def settings_from(**overrides: Any) -> Settings:
    """Every setting (`Settings`) from the environment, with the flags that were given on top."""
    return settings_of(Settings, **overrides)


def progress(message: str) -> None:
    typer.echo(message, err=True)
