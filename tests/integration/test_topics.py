"""`payhooks topics create|check` and PAYHOOKS_CREATE_TOPICS on the real broker."""

from __future__ import annotations

import subprocess
import sys

import pytest

# confluent-kafka's stubs leave these out of confluent_kafka.admin's exports (kernel/topics.py too)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from kernel.kafka_client import new_admin
from kernel.settings import Settings
from kernel.topics import check_topics, ensure_topics
from schemas.names import dlq_topic, retry_topic
from tests.gateway_support import gateway_client
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def payhooks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_created_topics_are_as_configured(settings: Settings, env_for: dict[str, str]) -> None:
    ensure_topics(settings)

    assert check_topics(settings) == []
    checked = payhooks(env_for, "topics", "check")
    assert (checked.returncode, checked.stdout.strip()) == (0, "topics as configured")


def test_check_names_a_missing_retry_topic_and_a_wrong_retention(
    settings: Settings, env_for: dict[str, str]
) -> None:
    ensure_topics(settings)
    admin = new_admin(settings, "test")
    for future in admin.delete_topics([retry_topic(settings.topic_prefix, 2)]).values():
        future.result()
    dlq = ConfigResource(
        ResourceType.TOPIC,
        dlq_topic(settings.topic_prefix),
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([dlq]).values():
        future.result()

    checked = payhooks(env_for, "topics", "check")

    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        f"{retry_topic(settings.topic_prefix, 2)}: missing (`payhooks topics create` makes it)",
        f"{dlq_topic(settings.topic_prefix)}: retention.ms=3600000, configured 2592000000",
    ]


def test_without_topic_creation_a_consumer_says_its_topics_are_missing(
    settings: Settings, env_for: dict[str, str]
) -> None:
    ran = payhooks({**env_for, "PAYHOOKS_CREATE_TOPICS": "false"}, "consumer")

    assert ran.returncode != 0
    [line] = ran.stderr.strip().splitlines()
    assert "has no topic" in line
    assert "payhooks topics create" in line


def test_without_topic_creation_the_gateway_is_not_ready(settings: Settings) -> None:
    off = settings.model_copy(update={"create_topics": False})
    with gateway_client(off) as client:
        assert client.get("/readyz").status_code == 503
        ensure_topics(off)
        # A new topic reaches every broker's metadata a moment after its creation returns.
        eventually(lambda: client.get("/readyz").status_code == 200, seconds=30)
