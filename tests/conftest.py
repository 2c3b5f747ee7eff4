"""Fixtures on the real Kafka, PostgreSQL and Redis.

Where the servers come from, in order: explicit `PAYHOOKS_*` URLs that answer; testcontainers when
a Docker engine answers; else the project's own native stack (`payhooks stack up`), started once per
test session. A test never skips for want of a server: if none can be had, it fails.

Isolation: every test gets its own database (a copy of a migrated template), its own topic prefix
and its own consumer group, so tests run in any order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.engine import make_engine, make_session_factory
from kernel.db.migrate import upgrade
from kernel.settings import Settings
from kernel.topics import delete_topics, ensure_topics
from payhooks_devtools.stack import Stack, create_database, docker_engine_answers

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAYSTACK_SECRET = "sk_test_paystack_primary_0123456789abcdef"
TEST_SECRETS = {
    "PAYHOOKS_PAYSTACK_SECRET_KEY": PAYSTACK_SECRET,
}


def _base_settings() -> Settings:
    return Settings(state_dir=PROJECT_ROOT / ".payhooks")


def _from_containers() -> Iterator[Settings]:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer  # noqa: PLC0415 - only without a local stack
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415 - only without a local stack
    from testcontainers.redis import RedisContainer  # noqa: PLC0415 - only without a local stack

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        PostgresContainer("postgres:15", driver="psycopg2") as postgres,
        RedisContainer("redis:7") as redis_container,
    ):
        host = redis_container.get_container_host_ip()
        port = redis_container.get_exposed_port(6379)
        yield _base_settings().model_copy(
            update={
                "kafka_bootstrap": kafka.get_bootstrap_server(),
                "database_url": postgres.get_connection_url(),
                "redis_url": f"redis://{host}:{port}/0",
            }
        )


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Settings pointing at live servers; the servers are started if nothing answers."""
    settings = _base_settings()
    explicit = any(
        name in os.environ
        for name in ("PAYHOOKS_KAFKA_BOOTSTRAP", "PAYHOOKS_DATABASE_URL", "PAYHOOKS_REDIS_URL")
    )
    stack = Stack(settings)
    if explicit or all(s.answers for s in stack.status()):
        stack.up(lambda _: None)  # reuses what answers; fails loudly on what does not
        yield settings
    elif docker_engine_answers():
        yield from _from_containers()
    else:
        stack.up(print)
        yield settings


@pytest.fixture(scope="session")
def template_database(stack_settings: Settings) -> Iterator[str]:
    """A migrated database that per-test databases are copied from (CREATE DATABASE … TEMPLATE)."""
    url = make_url(stack_settings.database_url).set(
        database=f"payhooks_tmpl_{uuid.uuid4().hex[:10]}"
    )
    rendered = url.render_as_string(hide_password=False)
    create_database(rendered)
    upgrade(rendered)
    yield url.database or ""
    _drop_database(rendered)


def _drop_database(database_url: str) -> None:
    url = make_url(database_url)
    assert url.database is not None
    connection = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.database))
        )
    connection.close()


@pytest.fixture
def settings(stack_settings: Settings, template_database: str) -> Iterator[Settings]:
    """This test's settings: its own database, topic prefix and consumer group."""
    token = uuid.uuid4().hex[:10]
    url = make_url(stack_settings.database_url).set(database=f"payhooks_test_{token}")
    rendered = url.render_as_string(hide_password=False)
    create_database(rendered, template=template_database)
    settings = stack_settings.model_copy(
        update={
            "database_url": rendered,
            "topic_prefix": f"test-{token}",
            "consumer_group": f"test-{token}-credit",
            "topic_partitions": 3,
            "paystack_secret_key": Settings(
                paystack_secret_key=PAYSTACK_SECRET
            ).paystack_secret_key,
        }
    )
    yield settings
    _drop_database(rendered)
    delete_topics(settings)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def topics(settings: Settings) -> tuple[str, ...]:
    return ensure_topics(settings)


@pytest.fixture
def env_for(settings: Settings) -> dict[str, str]:
    """The environment a payhooks child process needs to see this test's settings."""
    return {
        **os.environ,
        "PAYHOOKS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PAYHOOKS_DATABASE_URL": settings.database_url,
        "PAYHOOKS_REDIS_URL": settings.redis_url,
        "PAYHOOKS_TOPIC_PREFIX": settings.topic_prefix,
        "PAYHOOKS_CONSUMER_GROUP": settings.consumer_group,
        "PAYHOOKS_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "PAYHOOKS_STATE_DIR": str(settings.state_dir),
        "PAYHOOKS_LOG_FORMAT": "json",
        **TEST_SECRETS,
    }
