"""The faults a chaos run injects while the load runs. Each runs in its own thread until `stop`."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import TopicPartition

from kernel.kafka_client import new_consumer
from kernel.settings import KafkaClientSettings
from payhooks_devtools.chaos.fleet import Fleet
from payhooks_devtools.chaos.private_stack import PrivateStack
from payhooks_devtools.localnet import wait_http_ok
from payhooks_devtools.stack import probes
from payhooks_devtools.stack.native import pid_alive


@dataclass
class FaultLog:
    events: list[str] = field(default_factory=list)
    ended_at: list[float] = field(default_factory=list)  # epoch s: the faulted server is back

    def add(self, text: str) -> None:
        self.events.append(text)

    def ended(self, text: str) -> None:
        """The fault is over (its server answers again): recovery time is measured from here."""
        self.add(text)
        self.ended_at.append(time.time())


@dataclass(frozen=True)
class FaultContext:
    fleet: Fleet
    stack: PrivateStack
    rng: random.Random
    stop: threading.Event
    log: FaultLog
    consumers: list[str]
    scale: float  # 1.0 for the long runs; shorter pauses for CI's short runs
    hard: bool = False  # SIGKILL the server instead of a graceful stop (where a fault has one)
    topic: str = ""  # the run's main topic


Fault = Callable[[FaultContext], None]


def kill_consumers(ctx: FaultContext) -> None:
    """SIGKILL one of the consumers at random moments, and restart it."""
    while not ctx.stop.wait(ctx.rng.uniform(1.0, 4.0) * ctx.scale):
        victim = ctx.rng.choice(ctx.consumers)
        ctx.fleet.kill(victim)
        ctx.log.add(f"SIGKILL {victim}")
        ctx.stop.wait(0.5)
        ctx.fleet.start(victim)


def kafka_outage(ctx: FaultContext) -> None:
    """Stop the broker (SIGTERM, or SIGKILL when `hard`) for 10 to 20 s (shorter in short
    runs), then start it again."""
    if ctx.stop.wait(2.0 * ctx.scale):
        return
    down_for = ctx.rng.uniform(10.0, 20.0) * ctx.scale
    if ctx.hard:
        for node in ctx.stack.kafka.nodes:
            kill_hard(node.pid_file)
    else:
        ctx.stack.kafka.stop()
    ctx.log.add(f"Kafka {'SIGKILLed' if ctx.hard else 'stopped'} for {down_for:.1f} s")
    ctx.stop.wait(down_for)
    ctx.stack.kafka.start(lambda _: None)
    ctx.log.ended("Kafka started again")


def kill_hard(pid_file: Path, seconds: float = 10.0) -> None:
    """SIGKILL the server whose pid the file holds and wait until it is gone."""
    pid = pid_alive(pid_file)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + seconds
    while pid_alive(pid_file) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)


def postgres_restart(ctx: FaultContext) -> None:
    """Restart PostgreSQL mid-load (every connection is cut); `hard`: an `immediate` stop, no
    checkpoint, so the restart runs crash recovery."""
    if ctx.stop.wait(2.0 * ctx.scale):
        return
    ctx.stack.postgres.stop(mode="immediate" if ctx.hard else "fast")
    ctx.log.add(f"PostgreSQL stopped ({'immediate' if ctx.hard else 'fast'})")
    ctx.stop.wait(ctx.rng.uniform(2.0, 5.0) * ctx.scale)
    ctx.stack.postgres.start(lambda _: None)
    ctx.log.ended("PostgreSQL started again")


def redis_stop(ctx: FaultContext) -> None:
    """Stop Redis mid-load and leave it down: the database alone must guard the credits."""
    if ctx.stop.wait(2.0 * ctx.scale):
        return
    ctx.stack.redis.stop()
    ctx.log.add("Redis stopped (left down)")


def rebalance_storm(ctx: FaultContext) -> None:
    """Consumers join and leave (cleanly) every few seconds."""
    extra = "consumer-extra"
    ctx.fleet.add(extra, ["consumer"])
    ctx.fleet.terminate(extra)
    while not ctx.stop.wait(ctx.rng.uniform(1.0, 3.0) * ctx.scale):
        member = ctx.rng.choice([*ctx.consumers, extra])
        if ctx.fleet.alive(member):
            ctx.fleet.terminate(member)
            ctx.log.add(f"{member} left")
        else:
            ctx.fleet.start(member)
            ctx.log.add(f"{member} joined")
    for member in [*ctx.consumers, extra]:
        if not ctx.fleet.alive(member) and member != extra:
            ctx.fleet.start(member)


def kill_gateways(ctx: FaultContext) -> None:
    """Stop a gateway at random moments under load and start it again on its port; `hard`:
    SIGKILL, so requests in flight get no answer and the sender retries them."""
    gateways = sorted(name for name in ctx.fleet.members if name.startswith("gateway-"))
    while not ctx.stop.wait(ctx.rng.uniform(2.0, 5.0) * ctx.scale):
        victim = ctx.rng.choice(gateways)
        if ctx.hard:
            ctx.fleet.kill(victim)
        else:
            ctx.fleet.terminate(victim)
        ctx.log.add(f"{'SIGKILL' if ctx.hard else 'SIGTERM'} {victim}")
        ctx.stop.wait(0.5)
        ctx.fleet.start(victim)
        port = ctx.fleet.members[victim].args[-1]  # ["gateway", "--port", P]
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", seconds=60)
        ctx.log.ended(f"{victim} back")


def broker_kill(ctx: FaultContext) -> None:
    """On a 3-broker cluster (RF 3, min ISR 2): SIGKILL the leader of the busiest partition of
    the main topic mid-load, leave it dead a few seconds, bring it back."""
    if ctx.stop.wait(3.0 * ctx.scale):
        return
    kafka = ctx.stack.kafka
    victim = busiest_leader(KafkaClientSettings.plaintext(kafka.bootstrap), ctx.topic)
    node = next(node for node in kafka.nodes if node.id == victim)
    kill_hard(node.pid_file)
    down_for = ctx.rng.uniform(5.0, 10.0) * ctx.scale
    ctx.log.add(f"SIGKILL broker {victim} (leader of the busiest partition) for {down_for:.1f} s")
    ctx.stop.wait(down_for)
    kafka.start_node(node)
    deadline = time.monotonic() + 120
    while probes.kafka_broker_count(kafka.bootstrap) < len(kafka.nodes):
        if time.monotonic() > deadline:
            ctx.log.add(f"broker {victim} did not come back within 120 s")
            return
        time.sleep(0.5)
    ctx.log.ended(f"broker {victim} back")


def busiest_leader(kafka: KafkaClientSettings, topic: str) -> int:
    """The broker leading the partition of `topic` with the most records."""
    consumer = new_consumer(kafka, "chaos", {"group.id": "chaos-busiest-probe"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        sizes = {
            number: consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)[1]
            for number in partitions
        }
    finally:
        consumer.close()
    busiest = max(sizes, key=lambda number: sizes[number])
    return int(partitions[busiest].leader)


SCENARIOS: dict[str, Fault] = {
    "kill-consumers": kill_consumers,
    "kafka-outage": kafka_outage,
    "postgres-restart": postgres_restart,
    "redis-stop": redis_stop,
    "rebalance-storm": rebalance_storm,
    "kill-gateways": kill_gateways,
    "broker-kill": broker_kill,
}

# Scenarios that need a cluster of this many brokers (topics replicated 3 / min ISR 2).
BROKERS_NEEDED = {"broker-kill": 3}
