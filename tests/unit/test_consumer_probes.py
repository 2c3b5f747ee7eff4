"""The consumer's probe logic and lag arithmetic without Kafka (the e2e test runs them for real)."""

from __future__ import annotations

from typing import Any

from consumer.adapters.lag import any_broker_up, lag_by_partition
from consumer.entrypoints.probes import Health, probes_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(app: Any, path: str) -> tuple[str, bytes]:
    seen: dict[str, str] = {}

    def start_response(status: str, _: list[tuple[str, str]]) -> None:
        seen["status"] = status

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response))
    return seen["status"], body


def test_alive_until_the_loop_misses_its_beat_ready_only_as_a_member() -> None:
    clock = Clock()
    health = Health(liveness_seconds=30, clock=clock)
    app = probes_app(health)
    assert call(app, "/healthz")[0].startswith("200")
    assert call(app, "/readyz")[0].startswith("503")  # connected to nothing yet

    health.beat(member=True)
    assert call(app, "/readyz")[0].startswith("200")

    clock.now += 31  # the loop stalled
    assert call(app, "/healthz")[0].startswith("503")
    assert call(app, "/readyz")[0].startswith("503")
    assert call(app, "/nope")[0].startswith("404")


def test_metrics_are_served_on_the_same_listener() -> None:
    status, body = call(probes_app(Health(liveness_seconds=30)), "/metrics")
    assert status.startswith("200")
    assert b"payhooks_consumer_events_total" in body


def _stats(**partitions: dict[str, Any]) -> dict[str, Any]:
    return {"topics": {"p.webhooks": {"partitions": partitions}}}


def test_lag_is_last_stable_offset_minus_the_newest_committed_offset() -> None:
    stats = _stats(
        **{
            "-1": {"partition": -1, "fetch_state": "none", "ls_offset": -1},
            "0": {"partition": 0, "fetch_state": "active", "ls_offset": 50, "committed_offset": 10},
            "1": {
                "partition": 1,
                "fetch_state": "active",
                "ls_offset": 7,
                "committed_offset": -1001,
            },
            "2": {"partition": 2, "fetch_state": "none", "ls_offset": 9, "committed_offset": 0},
        }
    )
    # librdkafka does not see offsets committed in a transaction: ours win when newer
    lags = lag_by_partition(stats, {("p.webhooks", 0): 45})
    assert lags == {("p.webhooks", 0): 5, ("p.webhooks", 1): 7}


def test_a_member_id_alone_is_not_ready_when_every_known_broker_is_down() -> None:
    def stats(*states: str) -> dict[str, Any]:
        brokers = {"bootstrap": {"nodeid": -1, "state": "DOWN"}}
        brokers |= {f"b{i}": {"nodeid": i, "state": state} for i, state in enumerate(states)}
        return {"brokers": brokers}

    assert any_broker_up(stats()) is None  # only the bootstrap address: nothing learned yet
    assert any_broker_up(stats("DOWN", "UP", "CONNECT")) is True
    assert any_broker_up(stats("DOWN", "TRY_CONNECT")) is False
