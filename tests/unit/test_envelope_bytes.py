"""`WebhookEnvelope.to_bytes()` writes with orjson on the hot path: its bytes are exactly
pydantic's `model_dump_json()` for every envelope, whatever its text, amounts, headers and
datetimes (any time zone, naive ones, offsets with seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from schemas.envelope import WebhookEnvelope

TEXT = st.text(max_size=30)
MOMENTS = st.datetimes(
    timezones=st.none()
    | st.timezones()
    | st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    )
)


FIELDS = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=40),
        "reference": st.text(max_size=40),
        "amount": st.none() | st.integers(min_value=-(2**70), max_value=2**70),
        "currency": st.none() | TEXT,
        "occurred_at": st.none() | MOMENTS,
        "received_at": MOMENTS,
        "signature_headers": st.dictionaries(TEXT, TEXT, max_size=3),
        "verified_scheme": st.none() | st.text(max_size=10),
    }
)


@hsettings(max_examples=400)
@given(fields=FIELDS)
def test_to_bytes_is_exactly_pydantics_json(fields: dict[str, Any]) -> None:
    envelope = WebhookEnvelope(
        provider="paystack", event_type="charge.success", raw_body="eyJhIjoxfQ==", **fields
    )

    assert envelope.to_bytes() == envelope.model_dump_json().encode()


def test_the_gateways_usual_envelope_is_written_without_pydantics_serializer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the envelope the gateway writes: a UTC received_at, no occurred_at
    envelope = WebhookEnvelope(
        event_id="e",
        provider="paystack",
        event_type="charge.success",
        reference="r",
        received_at=datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC),
        raw_body="",
    )

    def not_on_the_hot_path(*_: object, **__: object) -> str:
        raise AssertionError("model_dump_json called")

    monkeypatch.setattr(WebhookEnvelope, "model_dump_json", not_on_the_hot_path)

    # Then orjson writes it
    assert b'"received_at":"2026-11-28T09:00:00.123456Z"' in envelope.to_bytes()
