"""One chaos scenario, start to verdict: processes up, load + fault, drain, check, report."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from kernel.db.engine import make_engine
from kernel.db.migrate import upgrade
from kernel.settings import PROVIDERS, Settings
from kernel.topics import ensure_topics
from payhooks_devtools.chaos.faults import SCENARIOS, Fault, FaultContext, FaultLog
from payhooks_devtools.chaos.fleet import Fleet
from payhooks_devtools.chaos.load import (
    Delivery,
    LoadStats,
    TransportWrapper,
    initialize,
    paid_at_provider,
    plan_deliveries,
    plan_payments,
    send_all,
)
from payhooks_devtools.chaos.private_stack import PrivateStack
from payhooks_devtools.chaos.verdict import (
    committed_records,
    count_violations,
    credited_references,
    dead_letters,
    first_credit_after,
    ledger_violations,
    outcome_violations,
    recorded_outcomes,
    recovery_violations,
    refunds_awaited,
    refunds_by_reference,
    reversal_counts,
    reversal_violations,
    sender_violations,
    unsettled,
)
from payhooks_devtools.localnet import free_port, wait_http_ok
from payhooks_devtools.stack import create_database
from schemas.headers import ERROR_MESSAGE
from schemas.names import dlq_topic, main_topic, retry_topics

Progress = Callable[[str], None]
GATEWAYS = 2


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
    consumers: int = 3
    hard: bool = False  # SIGKILL the faulted server instead of stopping it gracefully
    recovery_limit_seconds: float = 60.0  # credits must flow again this soon after a fault
    stop_limit_seconds: float = 30.0  # every consumer must exit (0) this soon after SIGTERM


@dataclass(frozen=True)
class Hooks:
    """Test-only seams, so a test can plant a fault the verdict must catch. `payhooks chaos`
    never sets them and no setting reaches them."""

    wrap_transport: TransportWrapper | None = None  # the sender's HTTP transport
    after_drain: Callable[[Engine, Settings], None] | None = None  # tamper with the ledger
    fault: Fault | None = None  # instead of the scenario's fault


@dataclass
class ScenarioReport:
    scenario: str
    seed: int
    payments: int
    load: LoadStats
    consumers: int = 3
    credited: int = 0
    retried: int = 0
    dead_lettered: int = 0
    refunds_accepted: int = 0  # distinct refund ids answered 2xx
    refunds_applied: int = 0  # ledger_reversals rows
    lost_webhooks: int = 0  # paid, webhook never sent: only the sweep can credit them
    swept: int = 0  # of those, credited
    lost_references: set[str] = field(default_factory=set)
    published: int = 0  # records the gateways put on the main topic
    outcomes: dict[str, int] = field(default_factory=dict)  # recorded by the consumer, per kind
    faults: list[str] = field(default_factory=list)
    recovery_seconds: float | None = None  # fault end → first credit after it
    stop_seconds: dict[str, float] = field(default_factory=dict)  # consumer → SIGTERM to exit
    stop_codes: dict[str, int | None] = field(default_factory=dict)  # consumer → exit code
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def duplicates_absorbed(self) -> int:
        """Counted from the consumer's recorded outcomes (consumed_records)."""
        return self.outcomes.get("duplicate", 0)


def scenario_settings(stack: PrivateStack, run_id: str) -> Settings:
    """This run's own database, topics, group and provider secrets, on the private stack."""
    database = make_url(stack.settings.database_url).set(database=f"chaos_{run_id}")
    standard_key = base64.b64encode(f"chaos-standard-signing-{run_id}".encode()).decode()
    return Settings(
        kafka_bootstrap=stack.settings.kafka_bootstrap,
        database_url=database.render_as_string(hide_password=False),
        redis_url=stack.settings.redis_url,
        state_dir=stack.settings.state_dir,
        topic_prefix=f"chaos-{run_id}",
        consumer_group=f"chaos-{run_id}-credit",
        topic_partitions=6,
        topic_replication_factor=stack.settings.topic_replication_factor,
        topic_min_insync_replicas=stack.settings.topic_min_insync_replicas,
        retry_delays=(1.0, 2.0, 5.0, 10.0),
        paystack_secret_key=f"sk_test_chaos_{run_id}_{'0' * 24}",
        stripe_webhook_secret=f"whsec_chaos_{run_id}_{'0' * 24}",
        flutterwave_secret_hash=f"flw_chaos_{run_id}_{'0' * 16}",
        standard_webhook_secret=f"whsec_{standard_key}",
        # The load signs Flutterwave bodies (flutterwave-signature) and pays at no provider: with
        # the signature required, no success needs confirming (docs/security.md).
        flutterwave_require_signature=True,
    )


def child_env(settings: Settings, simulator: str) -> dict[str, str]:
    values = {
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "CONSUMER_GROUP": settings.consumer_group,
        "TOPIC_PARTITIONS": str(settings.topic_partitions),
        "TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
        "TOPIC_MIN_INSYNC_REPLICAS": str(settings.topic_min_insync_replicas),
        "RETRY_DELAYS": ",".join(f"{delay}s" for delay in settings.retry_delays),
        # A run is minutes long (like the retry delays, time is compressed): a claim the
        # consumers could not settle is claimed again within the run, not after 5 min.
        "SWEEP_CLAIM_BACKOFF": "10s",
        "SWEEP_CLAIM_BACKOFF_MAX": "40s",
        "LOG_FORMAT": "json",
        "FLUTTERWAVE_REQUIRE_SIGNATURE": str(settings.flutterwave_require_signature).lower(),
        # The providers' verify APIs (sweep, and the consumer confirming sweep claims).
        **{f"{provider.upper()}_API_BASE": f"{simulator}/{provider}" for provider in PROVIDERS},
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


def start_fleet(
    settings: Settings, logs: Path, consumers: int
) -> tuple[Fleet, list[str], list[str], str]:
    """Gateways, consumers, the providers' stand-in and a sweep loop; the simulator's URL last."""
    simulator = f"http://127.0.0.1:{free_port()}"
    fleet = Fleet(child_env(settings, simulator), logs)
    fleet.add("simulator", ["simulator", "--port", simulator.rsplit(":", 1)[1]])
    gateways = []
    for index in range(GATEWAYS):
        port = free_port()
        fleet.add(f"gateway-{index + 1}", ["gateway", "--port", str(port)])
        gateways.append(f"http://127.0.0.1:{port}")
    names = [f"consumer-{index + 1}" for index in range(consumers)]
    for name in names:
        fleet.add(name, ["consumer"])
    for url in [*gateways, simulator]:
        wait_http_ok(f"{url}/readyz" if url != simulator else f"{url}/healthz", seconds=90,
                     hint=f"; see {logs}")  # fmt: skip
    return fleet, gateways, names, simulator


def sweep_args(config: ChaosConfig) -> list[str]:
    """The sweep looks only past the load's spread, so webhooks (not the sweep) credit the
    payments whose webhook does come, and the sweep finds the lost ones."""
    older_than = config.min_load_seconds + 15
    return ["sweep", "--older-than", f"{older_than:.0f}s", "--period", "3s"]


def drain(engine: Engine, settings: Settings, accepted: set[str], seconds: float) -> None:
    """Wait until every accepted reference is credited or dead-lettered, then until every
    published record has an outcome (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        missing = accepted - credited_references(engine, accepted)
        if not missing or missing <= dead_letters(settings).keys():
            break
        time.sleep(1.0)
    while time.monotonic() < deadline:
        published = committed_records(settings, [main_topic(settings.topic_prefix)])
        dlq = committed_records(settings, [dlq_topic(settings.topic_prefix)])
        if not unsettled(published, recorded_outcomes(engine), dlq):
            return
        time.sleep(2.0)


def drain_reversals(
    engine: Engine, settings: Settings, accepted: set[tuple[str, str]], seconds: float
) -> None:
    """Wait until every accepted refund has its ledger row, or it (or its payment's success) is
    dead-lettered: under its payment's reference, or (Stripe names no reference of ours) under
    its event id — the verdict's own test (`refunds_awaited`), so the drain never waits out its
    deadline for a refund the verdict counts as settled."""
    deadline = time.monotonic() + seconds
    expected = refunds_by_reference(accepted)
    while time.monotonic() < deadline:
        applied = reversal_counts(engine, set(expected))
        short = {ref for ref, ids in expected.items() if applied.get(ref, 0) < len(ids)}
        if not short or not refunds_awaited(expected, applied, dead_letters(settings)):
            return
        time.sleep(1.0)


def stop_consumers(fleet: Fleet, consumers: list[str], limit: float) -> dict[str, float]:
    """SIGTERM every consumer at once; seconds each took to exit (killed after `limit`).

    A consumer the fault restarted just before the load ended may still be importing, before
    its SIGTERM handler exists, and would die of the signal (exit -15) with nothing in hand:
    that is not the clean stop under test, so each running consumer is first given up to
    `limit` s to log that it started."""
    fleet.wait_logged(consumers, '"consumer.started"', timeout=limit)
    return fleet.terminate_all(consumers, timeout=limit)


@dataclass
class ScenarioRun:
    """One scenario on the private stack: its own database, topics, group, processes."""

    stack: PrivateStack
    config: ChaosConfig
    workdir: Path
    progress: Progress
    hooks: Hooks = field(default_factory=Hooks)
    fault_ended_at: list[float] = field(default_factory=list)

    def run(self) -> ScenarioReport:
        config = self.config
        run_id = f"{config.scenario.replace('-', '_')}_{config.seed}_{uuid.uuid4().hex[:6]}"
        settings = scenario_settings(self.stack, run_id)
        create_database(settings.database_url)
        upgrade(settings.database_url)
        ensure_topics(settings)
        engine = make_engine(settings.database_url)
        rng = random.Random(config.seed)
        report = ScenarioReport(
            config.scenario, config.seed, config.payments, LoadStats(), config.consumers
        )
        started = time.monotonic()
        payments = plan_payments(rng, config.payments, run_id, PROVIDERS)
        initialize(engine, payments)
        self.say(
            f"{len(payments)} payments initialized; starting {GATEWAYS} gateways and "
            f"{config.consumers} consumer(s)"
        )
        fleet, gateways, consumers, simulator = start_fleet(
            settings, self.workdir / run_id, config.consumers
        )
        try:
            asyncio.run(paid_at_provider(simulator, payments))
            fleet.add("sweep", sweep_args(config))
            report.lost_references = {p.reference for p in payments if p.webhook_lost}
            report.lost_webhooks = len(report.lost_references)
            deliveries = plan_deliveries(rng, payments, gateways)
            report.load = self.load_under_fault(fleet, consumers, deliveries, settings, report)
            self.say(f"load done: {report.load.accepted} accepted; draining…")
            awaited = report.load.accepted_references | report.lost_references
            drain(engine, settings, awaited, config.drain_seconds)
            drain_reversals(engine, settings, report.load.accepted_refunds, config.drain_seconds)
            report.stop_seconds = stop_consumers(fleet, consumers, config.stop_limit_seconds)
            report.stop_codes = {name: fleet.exit_code(name) for name in consumers}
        finally:
            fleet.stop_all()
            restore(self.stack)
        if self.hooks.after_drain is not None:
            self.hooks.after_drain(engine, settings)
        verify(report, engine, settings, self.fault_ended_at, config)
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
        context = FaultContext(
            fleet, self.stack, rng, stop, log, consumers, self.config.scale, self.config.hard,
            main_topic(settings.topic_prefix),
        )  # fmt: skip
        fault = self.hooks.fault or SCENARIOS[self.config.scenario]
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
                    wrap_transport=self.hooks.wrap_transport,
                )
            )
        finally:
            stop.set()
            injector.join()
            report.faults = log.events
            self.fault_ended_at = log.ended_at
        for name in [*consumers, "sweep", "simulator"]:
            if not fleet.alive(name):
                fleet.start(name)
        return stats


def restore(stack: PrivateStack) -> None:
    """Every server answering again before the drain and the next scenario."""
    for service in (stack.kafka, stack.postgres, stack.redis):
        if not service.answers():
            service.start(lambda _: None)


def verify(
    report: ScenarioReport,
    engine: Engine,
    settings: Settings,
    fault_ended_at: list[float],
    config: ChaosConfig,
) -> None:
    """The verdict (devtools/payhooks_devtools/chaos/verdict.py), and the figures of the report."""
    load = report.load
    expected = load.sent_references | report.lost_references
    credited = credited_references(engine, expected)
    dlq = committed_records(settings, [dlq_topic(settings.topic_prefix)])
    dead = {record.key: record.headers.get(ERROR_MESSAGE, "") for record in dlq}
    published = committed_records(settings, [main_topic(settings.topic_prefix)])
    outcomes = recorded_outcomes(engine)
    report.swept = len(credited & report.lost_references)
    report.refunds_accepted = len(load.accepted_refunds)
    report.credited = len(credited)
    report.dead_lettered = len(dead)
    report.published = len(published)
    report.outcomes = dict(Counter(outcomes.values()))
    retry_names = retry_topics(settings.topic_prefix, len(settings.retry_delays))
    report.retried = len(committed_records(settings, retry_names))
    if fault_ended_at:
        first = first_credit_after(engine, fault_ended_at[-1])
        report.recovery_seconds = None if first is None else max(0.0, first - fault_ended_at[-1])
    report.violations += sender_violations(load)
    report.violations += outcome_violations(expected, credited, dead)
    report.violations += reversal_violations(engine, load.accepted_refunds, dead)
    report.refunds_applied = sum(reversal_counts(engine, load.sent_references).values())
    report.violations += count_violations(
        published, outcomes, dlq, accepted=load.accepted, credited=len(credited)
    )
    report.violations += ledger_violations(engine, settings)
    report.violations += recovery_violations(report.recovery_seconds, config.recovery_limit_seconds)
    report.violations += [
        f"ignored SIGTERM: {name} still running {config.stop_limit_seconds:.0f} s after it (killed)"
        for name, seconds in sorted(report.stop_seconds.items())
        if seconds > config.stop_limit_seconds
    ]
    report.violations += [
        f"unclean stop: {name} exited {code} on SIGTERM (its clean stop blocked)"
        for name, code in sorted(report.stop_codes.items())
        if code not in {0, None} and report.stop_seconds.get(name, 0) <= config.stop_limit_seconds
    ]
