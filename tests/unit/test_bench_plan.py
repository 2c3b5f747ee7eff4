"""The consumer bench's plan per repetition: each pair making a ratio of its own (Redis lock on /
off; 1 % transient / 0 %) runs back to back, which side goes first alternating, and every other
figure keeps its drain and its place."""

from __future__ import annotations

import pytest

from payhooks_devtools.bench.consumer import (
    CLEAN,
    CONSUMER_REFERENCES,
    LOCK_OFF,
    LOCK_ON,
    RESET,
    TRANSIENT,
    TRANSIENT_REFERENCES,
    ConsumerRuns,
    consumer_figures,
    repetition_plan,
)

OTHERS = ["pgbench -c1", "1 consumer", "pgbench batched", "pgbench -c2", "2 consumers"]
PAIRS = [(LOCK_ON, LOCK_OFF), (CLEAN, TRANSIENT)]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_each_pair_runs_back_to_back_and_alternates_which_goes_first(
    first: str, second: str
) -> None:
    # Given three repetitions, When each one's plan is made
    plans = [repetition_plan(rep) for rep in range(3)]
    # Then in each the pair's two drains are neighbours
    for plan in plans:
        assert abs(plan.index(first) - plan.index(second)) == 1
    # And the side that goes first alternates
    firsts = [min((first, second), key=plan.index) for plan in plans]
    assert firsts == [first, second, first]


def test_every_other_run_keeps_its_drain_and_its_order() -> None:
    for rep in range(2):
        plan = repetition_plan(rep)
        # Then each run is in the plan once, and the others in the order they always had
        assert len(plan) == len(set(plan)) == len(OTHERS) + 4
        paired = {name for pair in PAIRS for name in pair}
        assert [name for name in plan if name not in paired] == OTHERS


def test_every_run_starts_from_the_consumers_and_the_transient_drains_payments_reset() -> None:
    # The 1 % transient drain's records name payments that do not exist; what it leaves behind
    # is reset like the rest, so no later run inherits it
    assert CONSUMER_REFERENCES in RESET
    assert TRANSIENT_REFERENCES in RESET


def test_the_paired_figures_take_their_pairs_not_the_one_consumer_drain() -> None:
    # Given a repetition's rates, the lock pair's different from the 1 consumer drain's
    runs = ConsumerRuns()
    rates = {"pgbench -c1": 1000.0, "1 consumer": 6000.0, "pgbench batched": 12000.0,
             "pgbench -c2": 2000.0, "2 consumers": 11000.0, LOCK_ON: 7200.0, LOCK_OFF: 8000.0,
             TRANSIENT: 5800.0, CLEAN: 6100.0}  # fmt: skip
    for name, rate in rates.items():
        runs.add(name, rate)
    # When the figures are made
    figures = consumer_figures(runs, 1000)
    lock = next(f for f in figures if f.name.startswith("Lock cost"))
    retry = next(f for f in figures if f.name.startswith("Retry path"))
    # Then the lock cost is lock on vs lock off, and the retry path 1 % transient vs 0 %, each
    # from its own pair
    assert (lock.subject_runs, lock.baseline_runs) == ((7200.0,), (8000.0,))
    assert (retry.subject_runs, retry.baseline_runs) == ((5800.0,), (6100.0,))
