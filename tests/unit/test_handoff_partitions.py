"""A batch's hand-offs to one topic share one partition (one partition per topic in its Kafka
transaction), keeping each record's key and value; an unknown partition count leaves the choice
to the producer's partitioner."""

from __future__ import annotations

from consumer.domain.records import HandOff, one_partition_per_topic

COUNTS = {"p.webhooks.retry.1": 12, "p.webhooks.dlq": 3}


def handoff(topic: str, n: int) -> HandOff:
    return HandOff(topic, f"ref-{n}".encode(), f"value-{n}".encode(), (("h", b"1"),))


def test_each_topic_gets_one_partition_within_its_count() -> None:
    batch = [handoff("p.webhooks.retry.1", n) for n in range(10)]
    batch += [handoff("p.webhooks.dlq", n) for n in range(4)]

    placed = one_partition_per_topic(batch, COUNTS.get)

    for topic, count in COUNTS.items():
        partitions = {h.partition for h in placed if h.topic == topic}
        assert len(partitions) == 1
        assert all(p is not None and 0 <= p < count for p in partitions)
    assert [(h.topic, h.key, h.value, h.headers) for h in placed] == [
        (h.topic, h.key, h.value, h.headers) for h in batch
    ]


def test_batches_spread_over_the_partitions() -> None:
    chosen = {
        one_partition_per_topic([handoff("p.webhooks.retry.1", n)], COUNTS.get)[0].partition
        for n in range(100)
    }

    assert len(chosen) > 6


def test_an_unknown_count_leaves_the_partition_to_the_partitioner() -> None:
    placed = one_partition_per_topic([handoff("elsewhere", 1)], COUNTS.get)

    assert placed[0].partition is None
