"""A private Kafka, PostgreSQL and Redis on free ports, which a chaos run may stop at will.

Chaos runs break servers on purpose, so they never touch the shared stack other work is using.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payhooks_devtools.stack import create_database, default_cache_dir
from payhooks_devtools.stack.native import NativeKafka, NativePostgres, NativeRedis


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports (a private Kafka's brokers and controllers)."""
    for _ in range(50):
        port = free_port()
        if all(_bindable(port + offset) for offset in range(1, count)):
            return port
    raise RuntimeError(f"no {count} adjacent free ports found for a private Kafka")


def free_port_pair() -> int:
    """A port whose successor is free too (Kafka's controller listens on the broker port + 1)."""
    return free_port_run(2)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateStack:
    """`kafka_brokers` 3+ makes a KRaft cluster whose topics are replicated 3 / min ISR 2."""

    def __init__(self, state_dir: Path, *, kafka_brokers: int = 1) -> None:
        # One broker: its port and the controller's (+1); several: the brokers, then controllers.
        first = free_port_run(2 if kafka_brokers == 1 else 2 * kafka_brokers)
        database = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/payhooks"
        redis = f"redis://127.0.0.1:{free_port()}/0"
        self.kafka = NativeKafka(
            f"127.0.0.1:{first}", state_dir, default_cache_dir(), brokers=kafka_brokers
        )
        self.postgres = NativePostgres(database, state_dir)
        self.redis = NativeRedis(redis, state_dir)
        replicated = kafka_brokers >= 3
        self.settings = Settings(
            kafka_bootstrap=self.kafka.bootstrap,
            database_url=database,
            redis_url=redis,
            state_dir=state_dir,
            topic_replication_factor=3 if replicated else 1,
            topic_min_insync_replicas=2 if replicated else 1,
        )

    def start(self) -> None:
        for service in (self.kafka, self.postgres, self.redis):
            if not service.answers():
                service.start(_quiet)
        create_database(self.settings.database_url)

    def stop(self) -> None:
        for service in (self.kafka, self.postgres, self.redis):
            service.stop()


def _quiet(_: str) -> None:
    return None


@contextmanager
def private_stack(state_dir: Path, *, kafka_brokers: int = 1) -> Iterator[PrivateStack]:
    stack = PrivateStack(state_dir, kafka_brokers=kafka_brokers)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
