"""One chaos scenario, start to verdict: processes up, load + fault, drain, check, report."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from payhooks.chaos.faults import SCENARIOS, FaultContext, FaultLog
from payhooks.chaos.fleet import Fleet
from payhooks.chaos.load import (
    Delivery,
    LoadStats,
    initialize,
    plan_deliveries,
    plan_payments,
    send_all,
)
from payhooks.chaos.private_stack import PrivateStack
from payhooks.db.engine import make_engine
from payhooks.db.migrate import upgrade
from payhooks.db.tables import LedgerTransaction, Payment
from payhooks.kafka_client import new_consumer
from payhooks.localnet import free_port, wait_http_ok
from payhooks.reconcile import reconcile
from payhooks.settings import PROVIDERS, KafkaClientSettings, Settings
from payhooks.stack import create_database
from payhooks.topics import ensure_topics
from schemas.names import dlq_topic, retry_topics

Progress = Callable[[str], None]
GATEWAYS = 2
CONSUMERS = 3


@dataclass(frozen=True)
class ChaosConfig:
    scenario: str
    payments: int
    seed: int
    concurrency: int = 32
    scale: float = 1.0
    drain_seconds: float = 300.0
    send_deadline_seconds: float = 600.0
    min_load_seconds: float = 30.0


@dataclass
class ScenarioReport:
    scenario: str
    seed: int
    payments: int
    load: LoadStats
    credited: int = 0
    retried: int = 0
    dead_lettered: int = 0
    faults: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def duplicates_absorbed(self) -> int:
        return max(0, self.load.accepted - self.credited - self.dead_lettered)


def scenario_settings(stack: PrivateStack, run_id: str) -> Settings:
    """This run's own database, topics, group and provider secrets, on the private stack."""
    database = make_url(stack.settings.database_url).set(database=f"chaos_{run_id}")
    standard_key = base64.b64encode(f"chaos-standard-{run_id}".encode()).decode()
    return Settings(
        kafka_bootstrap=stack.settings.kafka_bootstrap,
        database_url=database.render_as_string(hide_password=False),
        redis_url=stack.settings.redis_url,
        state_dir=stack.settings.state_dir,
        topic_prefix=f"chaos-{run_id}",
        consumer_group=f"chaos-{run_id}-credit",
        topic_partitions=6,
        retry_delays=(1.0, 2.0, 5.0, 10.0),
        paystack_secret_key=f"sk_chaos_{run_id}",
        stripe_webhook_secret=f"whsec_chaos_{run_id}",
        flutterwave_secret_hash=f"flw_chaos_{run_id}",
        standard_webhook_secret=f"whsec_{standard_key}",
    )


def child_env(settings: Settings) -> dict[str, str]:
    values = {
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "CONSUMER_GROUP": settings.consumer_group,
        "TOPIC_PARTITIONS": str(settings.topic_partitions),
        "RETRY_DELAYS": ",".join(f"{delay}s" for delay in settings.retry_delays),
        "LOG_FORMAT": "json",
        **{
            name: ",".join(s.decode() for s in settings.provider_secrets(provider))
            for provider, name in (
                ("paystack", "PAYSTACK_SECRET_KEY"),
                ("stripe", "STRIPE_WEBHOOK_SECRET"),
                ("flutterwave", "FLUTTERWAVE_SECRET_HASH"),
                ("standard", "STANDARD_WEBHOOK_SECRET"),
            )
        },
    }
    return {**os.environ, **{f"PAYHOOKS_{key}": value for key, value in values.items()}}


def start_fleet(settings: Settings, logs: Path) -> tuple[Fleet, list[str], list[str]]:
    fleet = Fleet(child_env(settings), logs)
    gateways = []
    for index in range(GATEWAYS):
        port = free_port()
        fleet.add(f"gateway-{index + 1}", ["gateway", "--port", str(port)])
        gateways.append(f"http://127.0.0.1:{port}")
    consumers = [f"consumer-{index + 1}" for index in range(CONSUMERS)]
    for name in consumers:
        fleet.add(name, ["consumer"])
    for url in gateways:
        wait_http_ok(f"{url}/readyz", seconds=90, hint=f"; see {logs}")
    return fleet, gateways, consumers


def committed_keys(kafka: KafkaClientSettings, topics: Iterable[str]) -> list[str]:
    """Keys of every committed record in `topics` (read_committed, from the beginning)."""
    consumer = new_consumer(kafka, "chaos", {
        "group.id": f"chaos-audit-{uuid.uuid4().hex}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    try:
        partitions = [
            TopicPartition(topic, partition, 0)
            for topic in topics
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        consumer.assign(partitions)
        return _drain_keys(consumer, len(partitions))
    finally:
        consumer.close()


def _drain_keys(consumer: Consumer, partitions: int) -> list[str]:
    keys: list[str] = []
    finished = 0
    deadline = time.monotonic() + 60
    while finished < partitions and time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=0.5):
            error = message.error()
            if error is not None:
                finished += error.code() == KafkaError._PARTITION_EOF
                continue
            keys.append((message.key() or b"").decode(errors="replace"))
    return keys


def credited_references(engine: Engine, references: set[str]) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Payment.reference).where(Payment.credited, Payment.reference.in_(references))
        )
        return {row.reference for row in rows}


def drain(engine: Engine, settings: Settings, accepted: set[str], seconds: float) -> set[str]:
    """Wait until every accepted reference is credited or dead-lettered; return the DLQ'd ones."""
    deadline = time.monotonic() + seconds
    dead: set[str] = set()
    while time.monotonic() < deadline:
        missing = accepted - credited_references(engine, accepted)
        if not missing:
            return dead
        dead = set(committed_keys(settings, [dlq_topic(settings.topic_prefix)]))
        if missing <= dead:
            return dead
        time.sleep(1.0)
    return dead


@dataclass
class ScenarioRun:
    """One scenario on the private stack: its own database, topics, group, processes."""

    stack: PrivateStack
    config: ChaosConfig
    workdir: Path
    progress: Progress

    def run(self) -> ScenarioReport:
        config = self.config
        run_id = f"{config.scenario.replace('-', '_')}_{config.seed}_{uuid.uuid4().hex[:6]}"
        settings = scenario_settings(self.stack, run_id)
        create_database(settings.database_url)
        upgrade(settings.database_url)
        ensure_topics(settings)
        engine = make_engine(settings.database_url)
        rng = random.Random(config.seed)
        report = ScenarioReport(config.scenario, config.seed, config.payments, LoadStats())
        started = time.monotonic()
        payments = plan_payments(rng, config.payments, run_id, PROVIDERS)
        initialize(engine, payments)
        self.say(f"{len(payments)} payments initialized; starting 2 gateways and 3 consumers")
        fleet, gateways, consumers = start_fleet(settings, self.workdir / run_id)
        try:
            deliveries = plan_deliveries(rng, payments, gateways)
            report.load = self.load_under_fault(fleet, consumers, deliveries, settings, report)
            self.say(f"load done: {report.load.accepted} accepted; draining…")
            dead = drain(engine, settings, report.load.accepted_references, config.drain_seconds)
        finally:
            fleet.stop_all()
            restore(self.stack)
        verify(report, engine, settings, dead)
        report.seconds = time.monotonic() - started
        engine.dispose()
        return report

    def say(self, message: str) -> None:
        self.progress(f"[{self.config.scenario}] {message}")

    def load_under_fault(
        self,
        fleet: Fleet,
        consumers: list[str],
        deliveries: list[Delivery],
        settings: Settings,
        report: ScenarioReport,
    ) -> LoadStats:
        stop = threading.Event()
        log = FaultLog()
        rng = random.Random(self.config.seed + 1)
        context = FaultContext(fleet, self.stack, rng, stop, log, consumers, self.config.scale)
        fault = SCENARIOS[self.config.scenario]
        injector = threading.Thread(target=fault, args=(context,), daemon=True)
        self.say(f"sending {len(deliveries)} webhooks while injecting faults…")
        injector.start()
        try:
            stats = asyncio.run(
                send_all(
                    deliveries,
                    settings,
                    concurrency=self.config.concurrency,
                    deadline_seconds=self.config.send_deadline_seconds,
                    min_seconds=self.config.min_load_seconds,
                )
            )
        finally:
            stop.set()
            injector.join()
            report.faults = log.events
        for name in consumers:
            if not fleet.alive(name):
                fleet.start(name)
        return stats


def restore(stack: PrivateStack) -> None:
    """Every server answering again before the drain and the next scenario."""
    for service in (stack.kafka, stack.postgres, stack.redis):
        if not service.answers():
            service.start(lambda _: None)


def verify(report: ScenarioReport, engine: Engine, settings: Settings, dead: set[str]) -> None:
    """Nothing accepted is lost, nothing is credited twice, and the ledger reconciles."""
    prefix = settings.topic_prefix
    accepted = report.load.accepted_references
    credited = credited_references(engine, accepted)
    report.credited = len(credited)
    report.dead_lettered = len(committed_keys(settings, [dlq_topic(prefix)]))
    retry_names = retry_topics(prefix, len(settings.retry_delays))
    report.retried = len(committed_keys(settings, retry_names))
    lost = sorted(accepted - credited - dead)
    report.violations += [
        f"lost: {ref} accepted, neither credited nor dead-lettered" for ref in lost
    ]
    with engine.connect() as connection:
        doubled = connection.execute(
            select(LedgerTransaction.reference)
            .group_by(LedgerTransaction.reference)
            .having(func.count() > 1)
        ).all()
    report.violations += [f"double credit: {row.reference}" for row in doubled]
    ledger = reconcile(engine, stuck_after_seconds=settings.stuck_processing_seconds)
    report.violations += [
        f"reconcile {v.kind}: {v.subject}={v.value}: {v.detail}" for v in ledger.violations
    ]
