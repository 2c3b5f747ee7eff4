"""Short chaos runs (issues 6, 17) on a private real stack: each fault, then the verdict.

The long version is `payhooks chaos --payments 20000` (README). `kafka-outage` runs with ONE
consumer (nobody else can take its partitions, so a wedged consumer fails the run), with the
broker stopped gracefully and with it SIGKILLed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from kernel.settings import Settings
from payhooks_devtools.chaos.faults import BROKERS_NEEDED, SCENARIOS, FaultContext
from payhooks_devtools.chaos.private_stack import PrivateStack, private_stack
from payhooks_devtools.chaos.report import render
from payhooks_devtools.chaos.runner import ChaosConfig, Hooks, ScenarioRun
from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

# (scenario, consumers, hard): every one-broker scenario, kafka-outage as its 1-consumer
# variants, the hard faults (PostgreSQL `immediate` stop, gateways SIGKILLed mid-request).
SPECIAL = {"kafka-outage", "kill-gateways", *BROKERS_NEEDED}
CASES = [(name, 3, False) for name in SCENARIOS if name not in SPECIAL] + [
    ("kafka-outage", 1, False),
    ("kafka-outage", 1, True),
    ("postgres-restart", 3, True),
    ("kill-gateways", 3, True),
]


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    # Under the project folder: root hands PostgreSQL to the postgres user, who must reach it.
    state = PROJECT_ROOT / ".payhooks" / f"chaos-tests-{tmp_path_factory.getbasetemp().name}"
    with private_stack(state) as stack:
        yield stack


@pytest.mark.parametrize(
    ("scenario", "consumers", "hard"),
    CASES,
    ids=[f"{s}-{c}-consumers{'-sigkill' if h else ''}" for s, c, h in CASES],
)
def test_every_genuine_webhook_is_credited_once_under(
    scenario: str, consumers: int, hard: bool, chaos_stack: PrivateStack, tmp_path: Path
) -> None:
    config = ChaosConfig(
        scenario, payments=250, seed=11, concurrency=24, scale=0.6, min_load_seconds=20.0,
        drain_seconds=240.0, consumers=consumers, hard=hard,
    )  # fmt: skip

    report = ScenarioRun(chaos_stack, config, tmp_path, print).run()

    print(render(report))
    assert report.faults, "the fault was never injected: the load ended first"
    assert report.load.accepted_references, "nothing was accepted"
    assert report.violations == []
    assert report.credited == len(report.load.sent_references | report.lost_references)
    assert report.swept == report.lost_webhooks > 0  # lost webhooks: the sweep credited them
    assert report.refunds_accepted > 0  # refunds (some partial), each sent 1-3 times
    assert 0 < report.refunds_applied <= report.refunds_accepted
    assert len(report.stop_seconds) == consumers
    assert max(report.stop_seconds.values()) <= config.stop_limit_seconds


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    state = PROJECT_ROOT / ".payhooks" / f"chaos-cluster-{tmp_path_factory.getbasetemp().name}"
    with private_stack(state, kafka_brokers=3) as stack:
        yield stack
    shutil.rmtree(state, ignore_errors=True)  # three brokers' data: not worth keeping


def test_every_genuine_webhook_is_credited_once_when_a_partition_leader_is_sigkilled(
    cluster_stack: PrivateStack, tmp_path: Path
) -> None:
    config = ChaosConfig(
        "broker-kill", payments=250, seed=11, concurrency=24, scale=0.6, min_load_seconds=20.0,
        drain_seconds=240.0, consumers=2, hard=True,
    )  # fmt: skip

    report = ScenarioRun(cluster_stack, config, tmp_path, print).run()

    print(render(report))
    assert any(fault.startswith("SIGKILL broker") for fault in report.faults), report.faults
    assert any(fault.endswith(" back") for fault in report.faults), report.faults
    assert report.violations == []
    assert report.credited == len(report.load.sent_references | report.lost_references)
    # While the dead leader's partitions wait for a new leader the gateways may answer 503
    # (the sender retries those); nothing accepted is lost, nothing is credited twice.


# --- the verdict catches what it must: faults planted through test-only seams ------------------

REFERENCE = re.compile(rb"chaos-[A-Za-z0-9_]+-\d{6}")


class BrokenGateway(httpx.AsyncBaseTransport):
    """Plays a broken gateway for two payments, as the sender sees it: every webhook of the first
    payment it sees is answered 202 and dropped (a silent loss); the first copy of the second is
    answered 401 (a genuine webhook wrongly refused). Everything else goes through."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.dropped = ""
        self.refused = ""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        found = REFERENCE.search(request.content)
        reference = found.group().decode() if found else ""
        if self.dropped in {"", reference}:
            self.dropped = reference
            return httpx.Response(202, json={"status": "accepted", "event_id": "planted"})
        if not self.refused:
            self.refused = reference
            return httpx.Response(401, json={"error": {"code": "bad_signature", "message": "x"}})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def plant_double_credit(engine: Engine, _: Settings) -> None:
    """A second ledger row (and balance) for one credited payment; the database's UNIQUE
    guards are dropped first, as broken code plus a broken schema would do."""
    with engine.begin() as connection:
        connection.execute(text(
            "ALTER TABLE ledger_transactions DROP CONSTRAINT uq_ledger_transactions_reference, "
            "DROP CONSTRAINT uq_ledger_transactions_payment_id"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency,"
            " event_id) SELECT reference, payment_id, wallet_id, amount, currency, 'planted'"
            " FROM ledger_transactions ORDER BY id LIMIT 1"
        ))  # fmt: skip
        connection.execute(text(
            "UPDATE wallets SET balance = balance + l.amount FROM ledger_transactions l"
            " WHERE l.event_id = 'planted' AND wallets.id = l.wallet_id"
        ))  # fmt: skip


def no_fault(ctx: FaultContext) -> None:
    ctx.log.add("none (planted faults only)")


def test_the_verdict_fails_on_a_planted_double_credit_loss_and_refusal(
    chaos_stack: PrivateStack, tmp_path: Path
) -> None:
    gateway: list[BrokenGateway] = []

    def broken(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        gateway.append(BrokenGateway(inner))
        return gateway[0]

    hooks = Hooks(wrap_transport=broken, after_drain=plant_double_credit, fault=no_fault)
    config = ChaosConfig(
        "planted-faults", payments=30, seed=5, concurrency=8, min_load_seconds=2.0,
        drain_seconds=15.0, consumers=1,
    )  # fmt: skip

    report = ScenarioRun(chaos_stack, config, tmp_path, print, hooks).run()

    print(render(report))
    dropped, refused = gateway[0].dropped, gateway[0].refused
    assert dropped
    assert refused not in {"", dropped}
    # The dropped payment may still be credited by the sweep (its provider says it was paid);
    # the 2xx answers without a record betray the loss either way.
    assert any(v.startswith("miscount: ") and "answered 2xx" in v for v in report.violations)
    assert f"refused: {refused}: a genuine webhook answered 401" in report.violations
    assert any(v.startswith("double credit: ") for v in report.violations)
    assert not report.ok
