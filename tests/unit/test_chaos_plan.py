"""The chaos load plan is seeded (a failing run repeats) and sends each webhook 1-3 times."""

from __future__ import annotations

import random
from collections import Counter

from kernel.settings import PROVIDERS
from payhooks_devtools.chaos.load import LoadStats, plan_deliveries, plan_payments
from payhooks_devtools.chaos.report import render
from payhooks_devtools.chaos.runner import ScenarioReport


def plan(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    payments = plan_payments(rng, 200, "run", PROVIDERS)
    deliveries = plan_deliveries(rng, payments, ["http://a", "http://b"])
    return [(d.payment.reference, d.gateway) for d in deliveries]


def test_the_same_seed_gives_the_same_run() -> None:
    assert plan(3) == plan(3)
    assert plan(3) != plan(4)


def test_every_webhook_is_sent_one_to_three_times_to_both_gateways() -> None:
    rng = random.Random(5)
    payments = plan_payments(rng, 200, "run", PROVIDERS)
    deliveries = plan_deliveries(rng, payments, ["http://a", "http://b"])
    copies = Counter((d.payment.reference, d.refund) for d in deliveries)
    lost = {p.reference for p in payments if p.webhook_lost}
    refunds = {(p.reference, r) for p in payments for r in p.refunds}
    assert set(copies) == {(p.reference, None) for p in payments if not p.webhook_lost} | refunds
    assert set(copies.values()) == {1, 2, 3}
    assert {d.gateway for d in deliveries} == {"http://a", "http://b"}
    assert lost  # the sweep has something to find
    assert not any(p.refunds for p in payments if p.webhook_lost)


def test_refunds_never_exceed_their_payment_and_some_are_partial() -> None:
    payments = plan_payments(random.Random(7), 2000, "run", PROVIDERS)
    refunded = [p for p in payments if p.refunds]
    assert 0.03 < len(refunded) / len(payments) < 0.08  # about 5 %
    assert all(sum(amount for _, amount in p.refunds) <= p.amount for p in refunded)
    assert any(sum(amount for _, amount in p.refunds) < p.amount for p in refunded)
    assert any(len(p.refunds) == 2 for p in refunded)


def test_payments_are_exact_minor_units_in_known_currencies() -> None:
    payments = plan_payments(random.Random(1), 100, "run", PROVIDERS)
    assert all(isinstance(p.amount, int) and p.amount > 0 for p in payments)
    assert {p.currency for p in payments} <= {"NGN", "USD", "GHS"}
    assert len({p.reference for p in payments}) == 100


def test_the_report_names_the_verdict_and_every_violation() -> None:
    stats = LoadStats(sent=3, accepted=2, accepted_references={"r1", "r2"})
    report = ScenarioReport("kafka-outage", 9, 2, stats, credited=1, violations=["lost: r2"])
    text = render(report)
    assert "kafka-outage (seed 9) — FAIL" in text
    assert "- lost: r2" in text
    assert "violations             1" in text
