"""Consumer lag per partition and records waiting in retry topics, from librdkafka's statistics.

librdkafka's own `consumer_lag` uses the committed offset it knows of, which offsets committed
through a producer transaction (`send_offsets_to_transaction`) do not update. So the lag here is
the partition's last stable offset (`ls_offset`, what a read_committed member can see) minus the
newer of librdkafka's committed offset (fetched at assignment) and the offsets this member
committed since. A transaction's commit marker takes an offset too, so a drained partition that
was written transactionally (the retry topics) may read 1.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import orjson
import structlog

from consumer.adapters.metrics import METRICS

log = structlog.get_logger("payhooks.consumer")

Where = tuple[str, int]


def lag_by_partition(stats: Mapping[str, Any], committed: Mapping[Where, int]) -> dict[Where, int]:
    """Lag of every partition this member fetches (librdkafka statistics JSON, parsed)."""
    lags: dict[Where, int] = {}
    for topic, topic_stats in (stats.get("topics") or {}).items():
        for partition_stats in (topic_stats.get("partitions") or {}).values():
            partition = int(partition_stats.get("partition", -1))
            if partition < 0 or partition_stats.get("fetch_state") in (None, "none"):
                continue  # the unassigned-partition placeholder, or not assigned to us
            stable = int(partition_stats.get("ls_offset", -1))
            done = max(
                int(partition_stats.get("committed_offset", -1)),
                committed.get((topic, partition), -1),
            )
            if stable >= 0 and done >= 0:
                lags[(topic, partition)] = max(0, stable - done)
            elif stable >= 0:
                lags[(topic, partition)] = stable - max(0, int(partition_stats.get("lo_offset", 0)))
    return lags


def any_broker_up(stats: Mapping[str, Any]) -> bool | None:
    """Is the client connected to some broker it learned of (not a bootstrap address)? None if
    it knows of none yet."""
    brokers = [b for b in (stats.get("brokers") or {}).values() if int(b.get("nodeid", -1)) >= 0]
    if not brokers:
        return None
    return any(b.get("state") == "UP" for b in brokers)


class LagMetrics:
    """Fed by the consumer's `stats_cb` (on the polling thread) and by committed transactions.
    Also keeps whether a broker was up at the latest statistics (for `/readyz`)."""

    def __init__(self, retry_topics: frozenset[str]) -> None:
        self._retry_topics = retry_topics
        self.brokers_up = True  # until statistics say otherwise
        self._committed: dict[Where, int] = {}
        self._lock = threading.Lock()

    def committed(self, offsets: Mapping[Where, int]) -> None:
        with self._lock:
            self._committed.update(offsets)

    def on_stats(self, stats_json: str) -> None:
        try:
            stats = orjson.loads(stats_json)
        except orjson.JSONDecodeError:
            log.warning("consumer.stats_unreadable")
            return
        up = any_broker_up(stats)
        if up is not None:
            self.brokers_up = up
        with self._lock:
            lags = lag_by_partition(stats, self._committed)
        METRICS.lag.clear()
        waiting = dict.fromkeys(self._retry_topics, 0)
        for (topic, partition), lag in lags.items():
            METRICS.lag.labels(topic, str(partition)).set(lag)
            if topic in waiting:
                waiting[topic] += lag
        for topic, count in waiting.items():
            METRICS.retry_waiting.labels(topic).set(count)
