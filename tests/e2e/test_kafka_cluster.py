"""`payhooks stack up --kafka-brokers 3` on private ports: three brokers, `stack env` lists them
all, payhooks' topics come out replication 3 / min ISR 2 with `topics check` clean, and
`stack down` stops every broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.kafka_client import new_admin
from kernel.settings import KafkaClientSettings, Settings
from kernel.topics import found_topics, wanted_topics
from payhooks_devtools.chaos.private_stack import free_port_run
from payhooks_devtools.stack import probes

pytestmark = pytest.mark.e2e


def payhooks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def exported(env_lines: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in env_lines.splitlines())
    return {name: value for name, value in pairs}


def test_a_three_broker_cluster_gets_replicated_topics_and_stops_whole(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port_run(6)  # three brokers, then their three controllers
    env = {
        **os.environ,
        "PAYHOOKS_STATE_DIR": str(tmp_path / "state"),
        "PAYHOOKS_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "PAYHOOKS_DATABASE_URL": settings.database_url,
        "PAYHOOKS_REDIS_URL": settings.redis_url,
    }
    brokers = [f"127.0.0.1:{port + n}" for n in range(3)]
    try:
        up = payhooks(env, "stack", "up", "--kafka-brokers", "3")
        assert up.returncode == 0, up.stderr
        variables = exported(payhooks(env, "stack", "env").stdout)
        assert variables["PAYHOOKS_KAFKA_BOOTSTRAP"] == ",".join(brokers)
        assert variables["PAYHOOKS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert variables["PAYHOOKS_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
        status = payhooks(env, "stack", "status")
        assert status.returncode == 0
        assert f"kafka     {','.join(brokers)} up" in status.stdout

        cluster = {**env, **variables, "PAYHOOKS_TOPIC_PREFIX": settings.topic_prefix}
        assert payhooks(cluster, "topics", "create").returncode == 0
        checked = payhooks(cluster, "topics", "check")
        assert (checked.returncode, checked.stdout.strip()) == (0, "topics as configured")
        kafka = KafkaClientSettings.plaintext(",".join(brokers))
        names = [spec.name for spec in wanted_topics(settings)]
        found = found_topics(new_admin(kafka, "test"), names)
        assert sorted(found) == sorted(names)
        assert {
            (t.replication_factor, t.config["min.insync.replicas"]) for t in found.values()
        } == {(3, "2")}
    finally:
        down = payhooks(env, "stack", "down")
    assert down.stdout.strip() == "stopped: kafka"
    assert not any(probes.port_open(probes.kafka_address(broker)) for broker in brokers)
