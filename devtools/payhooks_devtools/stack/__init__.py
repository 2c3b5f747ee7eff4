"""`payhooks stack`: the real Kafka, PostgreSQL and Redis for development, tests and the demo.

Servers already answering at the configured addresses are reused; otherwise Docker Compose is
used where a Docker engine answers; otherwise the servers are started natively.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from psycopg2 import sql
from sqlalchemy.engine import make_url

from kernel.settings import Settings
from payhooks_devtools.stack import probes
from payhooks_devtools.stack.errors import StackError
from payhooks_devtools.stack.native import NativeKafka, NativePostgres, NativeRedis, Progress

__all__ = ["ServiceStatus", "Stack", "StackError"]


class Service(Protocol):
    name: str
    address: probes.Address

    @property
    def where(self) -> str: ...
    def answers(self) -> bool: ...
    def owned(self) -> bool: ...
    def start(self, progress: Progress) -> None: ...
    def stop(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    address: str
    answers: bool
    started_by_payhooks: bool


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "payhooks"


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def recorded_brokers(state_dir: Path) -> int:
    """How many Kafka brokers the last `stack up` in `state_dir` started (1 if none said)."""
    try:
        return max(1, int((state_dir / "kafka" / "brokers").read_text()))
    except (OSError, ValueError):
        return 1


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        cache_dir: Path | None = None,
        kafka_brokers: int | None = None,
    ) -> None:
        self.settings = settings
        state = settings.state_dir
        self.brokers = kafka_brokers or recorded_brokers(state)
        self.kafka = NativeKafka(
            settings.kafka_bootstrap, state, cache_dir or default_cache_dir(), brokers=self.brokers
        )
        self.services: tuple[Service, ...] = (
            self.kafka,
            NativePostgres(settings.database_url, state),
            NativeRedis(settings.redis_url, state),
        )
        self.compose_marker = state / "docker-compose.started"

    def status(self) -> list[ServiceStatus]:
        with ThreadPoolExecutor(len(self.services)) as pool:
            answers = list(pool.map(lambda s: s.answers(), self.services))
        return [
            ServiceStatus(s.name, s.where, ok, s.owned() or self.compose_marker.exists())
            for s, ok in zip(self.services, answers, strict=True)
        ]

    def up(self, progress: Progress) -> list[ServiceStatus]:
        missing = [s for s in self.services if not s.answers()]
        self._check_kafka_size()
        for service in missing:
            if probes.port_open(service.address):
                raise StackError(
                    f"port {service.address.port} is taken by a program that is not "
                    f"{service.name}: stop it or point PAYHOOKS_* at a free port"
                )
        if missing and docker_engine_answers() and self.brokers == 1:
            self._compose_up([s.name for s in missing], progress)
        elif missing:
            self.settings.state_dir.mkdir(parents=True, exist_ok=True)
            if self.kafka in missing:
                self.kafka.dir.mkdir(parents=True, exist_ok=True)
                (self.kafka.dir / "brokers").write_text(str(self.brokers))
            with ThreadPoolExecutor(len(missing)) as pool:
                for future in [pool.submit(s.start, progress) for s in missing]:
                    future.result()
        self._ensure_database()
        return self.status()

    def _check_kafka_size(self) -> None:
        found = probes.kafka_broker_count(str(self.kafka.address))
        if 0 < found < self.brokers:
            raise StackError(
                f"a Kafka of {found} broker(s) already answers at {self.kafka.address}: "
                "`payhooks stack down` it first, or choose another PAYHOOKS_KAFKA_BOOTSTRAP port"
            )

    def down(self, progress: Progress) -> list[str]:
        if self.compose_marker.exists():
            progress("stopping the docker compose services…")
            subprocess.run(["docker", "compose", "down"], check=False)
            self.compose_marker.unlink()
        stopped = []
        for service in self.services:
            if service.stop():
                stopped.append(service.name)
                progress(f"stopped {service.name}")
        return stopped

    def env_lines(self) -> list[str]:
        s = self.settings
        return [
            f"export PAYHOOKS_KAFKA_BOOTSTRAP={self.kafka.bootstrap}",
            f"export PAYHOOKS_DATABASE_URL={s.database_url}",
            f"export PAYHOOKS_REDIS_URL={s.redis_url}",
            f"export PAYHOOKS_TOPIC_PREFIX={s.topic_prefix}",
            *self._replication_lines(),
        ]

    def _replication_lines(self) -> list[str]:
        """A cluster of 3+ brokers gets topics of RF 3 / min ISR 2, as production should."""
        if self.brokers < 3:
            return []
        return [
            "export PAYHOOKS_TOPIC_REPLICATION_FACTOR=3",
            "export PAYHOOKS_TOPIC_MIN_INSYNC_REPLICAS=2",
        ]

    def _compose_up(self, names: list[str], progress: Progress) -> None:
        progress(f"a Docker engine answers: docker compose up {' '.join(names)}…")
        done = subprocess.run(
            ["docker", "compose", "up", "-d", "--wait", *names],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"docker compose up failed: {done.stderr.strip()[-300:]}")
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.compose_marker.write_text(" ".join(names))

    def _ensure_database(self) -> None:
        create_database(self.settings.database_url)


def create_database(database_url: str, *, template: str | None = None) -> None:
    """Create the URL's database unless it exists (optionally as a copy of `template`)."""
    url = make_url(database_url)
    connection = probes.pg_connect(database_url, "postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            name = url.database or "payhooks"
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                cursor.execute(statement)
    finally:
        connection.close()
