"""The chaos load plan is seeded (a failing run repeats) and sends each webhook 1-3 times."""

from __future__ import annotations

import random
from collections import Counter

from payhooks.chaos.load import LoadStats, plan_deliveries, plan_payments
from payhooks.chaos.report import render
from payhooks.chaos.runner import ScenarioReport
from payhooks.settings import PROVIDERS


def plan(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    payments = plan_payments(rng, 200, "run", PROVIDERS)
    deliveries = plan_deliveries(rng, payments, ["http://a", "http://b"])
    return [(d.payment.reference, d.gateway) for d in deliveries]


def test_the_same_seed_gives_the_same_run() -> None:
    assert plan(3) == plan(3)
    assert plan(3) != plan(4)


def test_every_payment_is_sent_one_to_three_times_to_both_gateways() -> None:
    deliveries = plan(5)
    copies = Counter(reference for reference, _ in deliveries)
    assert len(copies) == 200
    assert set(copies.values()) == {1, 2, 3}
    assert {gateway for _, gateway in deliveries} == {"http://a", "http://b"}


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
