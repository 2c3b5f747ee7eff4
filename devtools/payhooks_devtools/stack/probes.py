"""Does a server answer at an address, and is it the server we expect there?"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg2
import redis
from sqlalchemy.engine import make_url

from kernel.kafka_client import new_admin
from kernel.settings import KafkaClientSettings


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def kafka_address(bootstrap: str) -> Address:
    first = bootstrap.split(",", 1)[0].strip()
    host, _, port = first.rpartition(":")
    return Address(host or "127.0.0.1", int(port or 9092))


def postgres_address(database_url: str) -> Address:
    url = make_url(database_url)
    return Address(url.host or "127.0.0.1", url.port or 5432)


def redis_address(redis_url: str) -> Address:
    parts = urlsplit(redis_url)
    return Address(parts.hostname or "127.0.0.1", parts.port or 6379)


def port_open(address: Address, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def kafka_broker_count(bootstrap: str, timeout: float = 3.0) -> int:
    """How many brokers the cluster at `bootstrap` (plaintext) reports; 0 if none answers."""
    if not port_open(kafka_address(bootstrap)):
        return 0

    admin = new_admin(KafkaClientSettings.plaintext(bootstrap), "stack", {"log_level": 0})
    try:
        return len(admin.list_topics(timeout=timeout).brokers)
    except Exception:  # noqa: BLE001 - any failure means "does not answer as Kafka"
        return 0


def postgres_answers(database_url: str, timeout: int = 2) -> bool:
    if not port_open(postgres_address(database_url)):
        return False

    try:
        connection = pg_connect(database_url, "postgres", timeout=timeout)
    except psycopg2.Error:
        return False
    connection.close()
    return True


def pg_connect(
    database_url: str, dbname: str | None = None, *, timeout: int = 5
) -> psycopg2.extensions.connection:
    """A psycopg2 connection to the URL's server: to `dbname` if given (`postgres` while the URL's
    own database may not exist yet), else to the URL's database."""
    url = make_url(database_url)
    return psycopg2.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=dbname or url.database,
        connect_timeout=timeout,
    )


def redis_answers(redis_url: str, timeout: float = 1.0) -> bool:
    if not port_open(redis_address(redis_url)):
        return False

    client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
