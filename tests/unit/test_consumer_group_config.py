"""The consumer's group membership settings: every member gets its share of each topic, and an
eager rebalance stops the group for at most a short heartbeat interval."""

from __future__ import annotations

from consumer.adapters.kafka import consumer_settings, heartbeat_interval_ms
from kernel.settings import ConsumerKnobs


def test_partitions_are_dealt_out_per_topic_not_by_total_count() -> None:
    # Given the default knobs, when the group configuration is built
    config = consumer_settings(ConsumerKnobs(), "g")
    # Then roundrobin (cooperative-sticky gave one member every main partition, librdkafka #4044)
    assert config["partition.assignment.strategy"] == "roundrobin"


def test_the_heartbeat_is_one_second_within_a_third_of_the_session_timeout() -> None:
    assert consumer_settings(ConsumerKnobs(), "g")["heartbeat.interval.ms"] == 1_000
    assert heartbeat_interval_ms(10_000) == 1_000
    assert heartbeat_interval_ms(2_400) == 800
    assert heartbeat_interval_ms(2) == 1
