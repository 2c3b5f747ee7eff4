"""The batched-SQL floor runs what the consumer's batch transaction runs, no more, no less."""

from __future__ import annotations

import re

from consumer.adapters.repository import CREDIT_BATCH_STATEMENTS
from payhooks_devtools.bench import batch_floor


def _as_the_consumer_sends_it(script: str) -> str:
    """The floor's script with each array read back into the consumer's bind parameter."""
    return re.sub(r"\(SELECT \w+ FROM bench_batch WHERE b = :b\)", ":param", script)


def test_the_floor_runs_each_consumer_statement_in_order_between_begin_and_commit() -> None:
    # Given the floor's pgbench script
    script = batch_floor.script()

    # Then, parameters aside, it is BEGIN, the consumer's statements in order, COMMIT
    body = _as_the_consumer_sends_it(script).split("BEGIN;\n", 1)[1]
    expected = [
        re.sub(r"CAST\(:\w+ AS", "CAST(:param AS", statement.text.strip()).replace(";\n", " \\;\n")
        + ";"
        for _, statement in CREDIT_BATCH_STATEMENTS
    ]
    assert body == "\n".join([*expected, "COMMIT;"]) + "\n"


def test_every_array_the_consumer_sends_is_provided_by_the_floor() -> None:
    # Every bind parameter of every statement is replaced by a bench_batch column
    script = batch_floor.script()
    assert re.findall(r":(\w+)", script.replace("::", "")) == ["b"] * script.count(":b")
    assert "CAST(:" not in script
