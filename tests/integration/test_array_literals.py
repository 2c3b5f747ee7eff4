"""Property: the consumer's batch statements take their arrays as PostgreSQL array literals built
in Python (consumer/adapters/repository.py::text_array/int_array); whatever text an untrusted
record carries, the database reads back exactly the values sent — no element split, merged,
unquoted or turned NULL (real PostgreSQL)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from consumer.adapters.repository import int_array, text_array

pytestmark = pytest.mark.integration

EXAMPLES = hsettings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What PostgreSQL text can hold: any character but NUL (surrogates cannot be UTF-8 encoded).
PG_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=40,
)
AWKWARD = st.sampled_from(['"', "\\", ",", "{", "}", " ", "NULL", "null", "", '\\"', "a b", "\t"])


@EXAMPLES
@given(values=st.lists(st.one_of(PG_TEXT, AWKWARD, st.none()), max_size=20))
def test_text_arrays_come_back_exactly(engine: Engine, values: list[str | None]) -> None:
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT CAST(:values AS text[])"), {"values": text_array(values)}
        ).scalar_one()
    assert back == values


@EXAMPLES
@given(values=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=20))
def test_bigint_arrays_come_back_exactly(engine: Engine, values: list[int]) -> None:
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT CAST(:values AS bigint[])"), {"values": int_array(values)}
        ).scalar_one()
    assert back == values


def test_an_int_array_refuses_what_is_not_an_int() -> None:
    with pytest.raises(TypeError):
        int_array(["1}, {2"])  # type: ignore[list-item]
