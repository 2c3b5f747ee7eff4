"""What payhooks' topics should be, and how a cluster's topics are compared with that (pure)."""

from __future__ import annotations

import pytest

from kernel.settings import Settings
from kernel.topics import FoundTopic, differences, settings_problems, wanted_topics


def production() -> Settings:
    return Settings(
        topic_prefix="pay",
        topic_partitions=6,
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
        retry_delays="5s,30s",
        dlq_retention="14d",
    )


def test_every_topic_gets_the_configured_replication_and_the_dlq_its_retention() -> None:
    specs = {spec.name: spec for spec in wanted_topics(production())}

    assert list(specs) == ["pay.webhooks", "pay.webhooks.retry.1", "pay.webhooks.retry.2",
                           "pay.webhooks.dlq"]  # fmt: skip
    assert {(s.partitions, s.replication_factor) for s in specs.values()} == {(6, 3)}
    assert {s.config["min.insync.replicas"] for s in specs.values()} == {"2"}
    assert specs["pay.webhooks.dlq"].config["retention.ms"] == str(14 * 86_400_000)
    assert "retention.ms" not in specs["pay.webhooks"].config


def test_the_dlq_keeps_thirty_days_by_default() -> None:
    [dlq] = [spec for spec in wanted_topics(Settings()) if spec.name.endswith(".dlq")]

    assert dlq.config["retention.ms"] == str(30 * 86_400_000)


def test_topics_as_configured_have_no_difference() -> None:
    wanted = wanted_topics(production())
    found = {s.name: FoundTopic(s.partitions, s.replication_factor, dict(s.config)) for s in wanted}

    assert differences(wanted, found) == []


def test_each_difference_is_one_line_naming_the_topic() -> None:
    wanted = wanted_topics(production())
    found = {s.name: FoundTopic(s.partitions, s.replication_factor, dict(s.config)) for s in wanted}
    del found["pay.webhooks.retry.2"]
    found["pay.webhooks"] = FoundTopic(6, 1, {"min.insync.replicas": "1"})
    found["pay.webhooks.dlq"] = FoundTopic(6, 3, {"min.insync.replicas": "2",
                                                  "retention.ms": "604800000"})  # fmt: skip

    assert differences(wanted, found) == [
        "pay.webhooks: replication factor 1, configured 3",
        "pay.webhooks: min.insync.replicas=1, configured 2",
        "pay.webhooks.retry.2: missing (`payhooks topics create` makes it)",
        "pay.webhooks.dlq: retention.ms=604800000, configured 1209600000",
    ]


@pytest.mark.parametrize(
    ("rf", "isr", "brokers", "problem"),
    [
        (3, 2, 3, None),
        (1, 1, 1, None),  # the one-broker local stack
        (2, 2, 3, "below PAYHOOKS_TOPIC_MIN_INSYNC_REPLICAS=2 + 1"),
        (1, 1, 3, "below PAYHOOKS_TOPIC_MIN_INSYNC_REPLICAS=1 + 1"),
        (3, 2, 1, "but the cluster has 1 broker(s)"),
    ],
)
def test_replication_must_survive_one_broker_lost(
    rf: int, isr: int, brokers: int, problem: str | None
) -> None:
    settings = Settings(topic_replication_factor=rf, topic_min_insync_replicas=isr)

    problems = settings_problems(settings, brokers)

    if problem is None:
        assert problems == []
    else:
        assert any(problem in line for line in problems), problems
