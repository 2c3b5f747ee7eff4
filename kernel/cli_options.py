"""The flags several `payhooks` commands share, each mirroring a `PAYHOOKS_*` variable.

Here in the kernel so the runtime CLI (`payhooks.cli`) and the dev tooling's commands
(`payhooks_devtools.cli`) declare them once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kernel.settings import Settings

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


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def progress(message: str) -> None:
    typer.echo(message, err=True)
