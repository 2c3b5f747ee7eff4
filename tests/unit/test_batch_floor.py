"""The batched-SQL floor runs what the consumer's batch transaction runs, no more, no less."""

from __future__ import annotations

import re

from consumer.adapters.repository import CREDIT_BATCH_ROUND_TRIPS
from payhooks_devtools.bench import batch_floor


def _as_the_consumer_sends_it(script: str) -> str:
    """The floor's script with each array read back into the consumer's bind parameter."""
    return re.sub(r"\(SELECT \w+ FROM bench_batch WHERE b = :b\)", ":param", script)


def test_the_floor_runs_the_consumers_round_trips_begin_with_the_first_commit_with_the_last() -> (
    None
):
    # Given the floor's pgbench script
    script = batch_floor.script()

    # Then, parameters aside, each consumer round trip is one request (statements joined by
    # `\\;`, ended by `;`), in order, BEGIN opening the first and COMMIT closing the last
    body = _as_the_consumer_sends_it(script).split("\\gset\n", 1)[1]
    trips = [
        [
            re.sub(r"CAST\(:\w+ AS", "CAST(:param AS", sql.text.strip()).replace(";\n", " \\;\n")
            for _, sql in trip
        ]
        for trip in CREDIT_BATCH_ROUND_TRIPS
    ]
    trips[0].insert(0, "BEGIN")
    trips[-1].append("COMMIT")
    assert body == "".join(" \\;\n".join(trip) + ";\n" for trip in trips)
    assert body.count(";\n") - body.count("\\;\n") == len(CREDIT_BATCH_ROUND_TRIPS) == 2


def test_every_array_the_consumer_sends_is_provided_by_the_floor() -> None:
    # Every bind parameter of every statement is replaced by a bench_batch column
    script = batch_floor.script()
    assert re.findall(r":(\w+)", script.replace("::", "")) == ["b"] * script.count(":b")
    assert "CAST(:" not in script
